// The chat page: the list of sessions, the conversation, and sending a message with its
// answer streamed (queue position, steps, tokens, then the outcome).

import { ApiError, api, postEvents } from "./api.js";
import { summaryOf } from "./flowview.js";
import { announce, fmtTime, h, fill } from "./ui.js";

const STEP_WORDS = {
  "reading the request": "Reading the request",
  planning: "Planning",
  "planning the edit": "Planning the edit",
  "writing code": "Writing code",
  compiling: "Compiling",
  validating: "Validating",
};

export class Chat {
  /** `flowView`: the FlowView beside the conversation. */
  constructor(root, flowView) {
    this.root = root;
    this.flowView = flowView;
    this.sessions = [];
    this.current = null; // the open session (full, with messages) or null
    this.busy = false;
    this.controller = null;
    this.list = root.querySelector("#session-list");
    this.messages = root.querySelector("#messages");
    this.form = root.querySelector("#composer");
    this.input = root.querySelector("#message-input");
    this.sendButton = root.querySelector("#send");
    this.stopButton = root.querySelector("#stop");
    this.title = root.querySelector("#conversation-title");
    root.querySelector("#new-chat").addEventListener("click", () => this.newChat());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send(this.input.value);
      } else if (event.key === "Escape" && this.busy) {
        this.stop();
      }
    });
    this.stopButton.addEventListener("click", () => this.stop());
  }

  focusInput(placeholder) {
    if (placeholder) this.input.placeholder = placeholder;
    this.input.focus();
  }

  /**
   * "Edit by chat": the next message edits the session's current flow. When an earlier
   * answer's flow is shown instead, it becomes the current one first (PATCH).
   */
  async editFrom(flow) {
    const session = this.current;
    if (session && flow && JSON.stringify(session.flow) !== JSON.stringify(flow)) {
      try {
        await api.patch(`sessions/${encodeURIComponent(session.id)}`, { flow });
        session.flow = flow;
        announce("This version of the flow is now the one the chat edits.");
      } catch (exc) {
        announce(exc.message);
        window.alert(exc.message);
        return;
      }
    }
    this.focusInput("Describe a change to this flow…");
  }

  // --- sessions -----------------------------------------------------------------------

  async loadSessions() {
    try {
      this.sessions = await api.get("sessions");
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 401) return;
      fill(this.list, h("li", { class: "error", role: "alert" }, exc.message));
      return;
    }
    const mine = this.current && this.sessions.find((s) => s.id === this.current.id);
    if (mine && mine.title !== this.current.title) {
      this.current.title = mine.title; // the first message names a new chat
      this.title.textContent = mine.title;
    }
    this.renderSessions();
  }

  renderSessions() {
    if (!this.sessions.length) {
      fill(this.list, h("li", { class: "muted empty" }, "No chats yet."));
      return;
    }
    fill(this.list, this.sessions.map((session) => {
      const active = this.current && this.current.id === session.id;
      return h("li", { class: `session${active ? " active" : ""}` },
        h("a", { href: `#/chat/${session.id}`, class: "session-open",
          "aria-current": active ? "page" : null, dataset: { id: session.id } },
        h("span", { class: "session-title" }, session.title || "New chat"),
        h("span", { class: "session-meta" }, fmtTime(session.updated_at),
          session.has_flow ? " · flow" : "")),
        h("button", { type: "button", class: "icon danger", title: "Delete this chat",
          "aria-label": `Delete chat “${session.title || "New chat"}”`,
          onclick: () => this.remove(session) }, "×"));
    }));
  }

  /** Open session `id` (from the route); null opens an empty, unsaved chat. */
  async open(id) {
    if (!id) {
      // Back from another page: the open chat stays open.
      if (this.current) window.history.replaceState(null, "", `#/chat/${this.current.id}`);
      return;
    }
    if (this.current && this.current.id === id) return;
    try {
      this.current = await api.get(`sessions/${encodeURIComponent(id)}`);
    } catch (exc) {
      this.newChat(false);
      this.messages.append(h("li", { class: "msg system error", role: "alert" }, exc.message));
      return;
    }
    this.renderConversation();
    this.renderSessions();
  }

  newChat(focus = true) {
    if (this.busy) this.stop();
    this.current = null;
    if (window.location.hash.startsWith("#/chat/")) {
      window.history.replaceState(null, "", "#/chat");
    }
    this.renderConversation();
    this.renderSessions();
    if (focus) this.focusInput("Describe the flow you need…");
  }

  async remove(session) {
    if (!window.confirm(`Delete the chat “${session.title}”?`)) return;
    try {
      await api.del(`sessions/${encodeURIComponent(session.id)}`);
    } catch (exc) {
      announce(exc.message);
      window.alert(exc.message);
      return;
    }
    if (this.current && this.current.id === session.id) this.newChat(false);
    announce("Chat deleted");
    await this.loadSessions();
    const first = this.list.querySelector("a, button");
    if (first) first.focus();
    else document.getElementById("new-chat").focus();
  }

  // --- the conversation ---------------------------------------------------------------

  renderConversation() {
    const session = this.current;
    this.title.textContent = session ? session.title : "New chat";
    const messages = session ? session.messages : [];
    if (!messages.length) {
      fill(this.messages, h("li", { class: "msg system muted" },
        "Describe a flow in plain words, e.g. “every 5 s read holding register 100 from "
        + "the PLC at 192.168.1.10 and publish it to MQTT plant/line1/temp”. Each later "
        + "message edits the flow."));
    } else {
      fill(this.messages, messages.map((m) => this.messageItem(m)));
    }
    const last = lastFlowOutcome(messages);
    const flow = session && session.flow ? session.flow : null;
    this.flowView.show(flow, last && flow ? last : null);
    this.input.placeholder = flow ? "Describe a change to this flow…"
      : "Describe the flow you need…";
    this.scrollDown(true);
  }

  messageItem(message) {
    if (message.role === "user") {
      return h("li", { class: "msg user" }, h("div", { class: "msg-role" }, "You"),
        h("div", { class: "msg-text" }, message.content));
    }
    const item = h("li", { class: "msg assistant" }, h("div", { class: "msg-role" }, "Plumb"));
    this.fillAnswer(item, message.outcome, message.content);
    return item;
  }

  /** The answer part of an assistant message: text, choices, or the flow it built. */
  fillAnswer(item, outcome, fallback = "") {
    const body = h("div", { class: "answer" });
    if (!outcome) {
      body.append(h("div", { class: "msg-text" }, fallback));
    } else if (outcome.outcome === "clarify") {
      body.append(h("div", { class: "msg-text" }, outcome.message));
      if (outcome.choices && outcome.choices.length) {
        body.append(h("div", { class: "choices", role: "group",
          "aria-label": "Possible answers" }, outcome.choices.map((choice) =>
          h("button", { type: "button", class: "choice", onclick: () => {
            this.input.value = choice;
            this.focusInput();
            announce("Answer copied into the message box: edit it or press Enter");
          } }, choice))));
      }
    } else if (outcome.outcome === "refuse") {
      body.append(h("div", { class: "msg-text refusal" }, outcome.message));
    } else {
      const first = summaryOf(outcome.message || "");
      const nodes = (outcome.flow || []).filter((n) => n.type !== "tab" && n.x !== undefined)
        .length;
      body.append(h("div", { class: "msg-text" }, first),
        h("p", { class: "flow-note" },
          `Flow with ${nodes} node${nodes === 1 ? "" : "s"}`,
          outcome.changes && outcome.changes.length
            ? `, ${outcome.changes.length} change${outcome.changes.length === 1 ? "" : "s"}`
            : "",
          " · ",
          h("button", { type: "button", class: "link", onclick: () => {
            this.flowView.show(outcome.flow, outcome);
            announce("Showing the flow of this answer");
          } }, "Show this flow")));
    }
    item.append(body);
  }

  scrollDown(force = false) {
    const box = this.messages;
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (force || near) box.scrollTop = box.scrollHeight;
  }

  // --- sending ------------------------------------------------------------------------

  setBusy(busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
    this.stopButton.hidden = !busy;
    this.root.classList.toggle("busy", busy);
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  async send(raw) {
    const text = String(raw || "").trim();
    if (!text || this.busy) return;
    this.setBusy(true);
    if (this.messages.querySelector(".msg.system")) this.messages.replaceChildren();
    this.messages.append(h("li", { class: "msg user" }, h("div", { class: "msg-role" }, "You"),
      h("div", { class: "msg-text" }, text)));
    const pending = new PendingAnswer();
    this.messages.append(pending.item);
    this.input.value = "";
    this.scrollDown(true);
    this.controller = new AbortController();
    let outcome = null;
    try {
      if (!this.current) {
        this.current = await api.post("sessions", {});
        this.current.messages = [];
        window.history.replaceState(null, "", `#/chat/${this.current.id}`);
      }
      const path = `sessions/${encodeURIComponent(this.current.id)}/messages`;
      for await (const { event, data } of postEvents(path, { content: text, stream: true },
        { signal: this.controller.signal })) {
        if (event === "queued") pending.queued(data.position);
        else if (event === "started") pending.started();
        else if (event === "step") pending.step(data.name);
        else if (event === "token") pending.token(data.text);
        else if (event === "result") outcome = this.received(data, pending);
        else if (event === "error") pending.fail(data.message || data.error);
        else if (event === "done") break;
        this.scrollDown();
      }
      if (!outcome && !pending.failed) pending.fail("The answer was cut off before it ended.");
    } catch (exc) {
      if (exc && exc.name === "AbortError") pending.fail("Stopped.", false);
      else pending.fail(exc.message || String(exc));
      if (!this.input.value) this.input.value = text; // to send again
    } finally {
      this.controller = null;
      this.setBusy(false);
      this.scrollDown();
      this.loadSessions();
    }
    if (outcome && outcome.outcome === "clarify") {
      const first = pending.item.querySelector(".choice");
      if (first) first.focus();
      else this.input.focus();
    } else if (document.activeElement === document.body || !document.activeElement) {
      this.input.focus();
    }
  }

  /** A `result`: a session turn ({assistant_message}) or a bare outcome. */
  received(data, pending) {
    const message = data.assistant_message || null;
    const outcome = message ? message.outcome : data;
    pending.finish();
    this.fillAnswer(pending.item, outcome, message ? message.content : "");
    if (this.current && message) {
      this.current.messages.push(data.user_message, message);
    }
    if (outcome && outcome.flow) {
      if (this.current) this.current.flow = outcome.flow;
      this.flowView.show(outcome.flow, outcome);
      this.input.placeholder = "Describe a change to this flow…";
      announce(`Flow ready: ${this.flowView.graph.nodeCount()} nodes.`);
    } else if (outcome && outcome.outcome === "clarify") {
      announce(`Question: ${outcome.message}`);
    } else if (outcome) {
      announce(`Refused: ${outcome.message}`);
    }
    return outcome;
  }
}

/** The assistant's answer while it streams: queue position, steps, model tokens. */
class PendingAnswer {
  constructor() {
    this.failed = false;
    this.status = h("p", { class: "queue", role: "status" }, "Sending…");
    this.steps = h("ol", { class: "steps", "aria-label": "Steps" });
    this.tokens = h("pre", { class: "tokens", hidden: true, "aria-label": "Model output",
      "aria-live": "off" });
    this.item = h("li", { class: "msg assistant pending", "aria-busy": "true" },
      h("div", { class: "msg-role" }, "Plumb"), this.status, this.steps, this.tokens);
  }

  queued(position) {
    this.status.hidden = false;
    this.status.textContent = position <= 1
      ? "Waiting for the model: you are next in line."
      : `Waiting for the model: position ${position} in line.`;
    this.status.dataset.position = String(position);
  }

  started() {
    this.status.textContent = "Working…";
  }

  step(name) {
    const last = this.steps.lastElementChild;
    if (last) last.classList.replace("current", "done");
    this.steps.append(h("li", { class: "step current", dataset: { name } },
      STEP_WORDS[name] || name));
    this.status.textContent = `${STEP_WORDS[name] || name}…`;
  }

  token(text) {
    this.tokens.hidden = false;
    this.tokens.textContent += text;
    this.tokens.scrollTop = this.tokens.scrollHeight;
  }

  finish() {
    this.steps.querySelectorAll(".current").forEach((el) => el.classList.replace("current",
      "done"));
    this.status.hidden = true;
    this.item.classList.remove("pending");
    this.item.removeAttribute("aria-busy");
  }

  fail(message, isError = true) {
    this.finish();
    this.failed = isError;
    this.item.classList.add("failed");
    this.item.append(h("div", { class: `msg-text ${isError ? "error" : "muted"}`,
      role: isError ? "alert" : null }, message));
  }
}

function lastFlowOutcome(messages) {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const outcome = messages[i].outcome;
    if (messages[i].role === "assistant" && outcome && outcome.flow) return outcome;
  }
  return null;
}
