// Plumb's web UI: one page with two routes (#/chat, #/fleet), signing in when the server
// runs in token mode, and the parts wired together.

import { ApiError, api, getToken, onUnauthorized, setToken } from "./api.js";
import { Chat } from "./chat.js";
import { DeployDialog } from "./deploy.js";
import { Fleet } from "./fleet.js";
import { FlowView } from "./flowview.js";
import { announce, $ } from "./ui.js";

const state = { auth: "local", me: null, page: null, started: false };

const pages = {
  login: $("#login-page"),
  chat: $("#chat-page"),
  fleet: $("#fleet-page"),
};

const deploy = new DeployDialog($("#deploy-dialog"));
const flowView = new FlowView($("#workspace"), {
  onEdit: (flow) => chat.editFrom(flow),
  onDeploy: (flow) => deploy.open(flow, chat.current ? chat.current.title : ""),
});
const chat = new Chat($("#chat-page"), flowView);
const fleet = new Fleet($("#fleet-page"));
// For the browser tests and for poking at the UI from the devtools console.
window.__plumb = { chat, flowView, fleet, deploy };

// --- routes ---------------------------------------------------------------------------

function parseRoute() {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "fleet") return { page: "fleet" };
  return { page: "chat", session: parts[0] === "chat" && parts[1] ? parts[1] : null };
}

function showPage(name) {
  for (const [key, page] of Object.entries(pages)) page.hidden = key !== name;
  document.body.dataset.page = name;
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.dataset.page === name;
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("#nav").hidden = name === "login";
}

async function route(moved = false) {
  if (!state.started) return;
  const target = parseRoute();
  if (target.page !== "fleet") fleet.leave();
  showPage(target.page);
  document.title = target.page === "fleet" ? "Fleet · Plumb" : "Chat · Plumb";
  if (target.page === "fleet") {
    if (moved) $("#fleet-title").focus();
    await fleet.enter();
  } else {
    await chat.open(target.session);
    if (moved && !target.session) $("#conversation-title").focus();
  }
  state.page = target.page;
}

window.addEventListener("hashchange", () => route(true));

// --- signing in -------------------------------------------------------------------------

function showLogin(message = "") {
  state.started = false;
  fleet.leave();
  showPage("login");
  $("#who").textContent = "";
  $("#logout").hidden = true;
  const note = $("#login-message");
  note.textContent = message;
  note.hidden = !message;
  $("#login-name").focus();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#login-submit");
  const note = $("#login-message");
  button.disabled = true;
  try {
    // quiet: a refused login is this form's own error, not a session that ended.
    const answer = await api.post("auth/login", {
      name: $("#login-name").value.trim(), password: $("#login-password").value,
    }, { quiet: true });
    setToken(answer.token);
    $("#login-password").value = "";
    note.hidden = true;
    await start();
  } catch (exc) {
    note.textContent = exc.message;
    note.hidden = false;
    $("#login-password").focus();
  } finally {
    button.disabled = false;
  }
});

$("#logout").addEventListener("click", async () => {
  const tokenId = state.me && state.me.token ? state.me.token.id : null;
  if (tokenId !== null) {
    try {
      await api.del(`tokens/${tokenId}`);
    } catch {
      // Signing out here must work even when the server cannot revoke the token.
    }
  }
  setToken(null);
  state.me = null;
  showLogin("Signed out.");
});

onUnauthorized(() => {
  if (state.auth === "token") {
    setToken(null);
    showLogin("Your session has ended: sign in again.");
  } else if (getToken()) {
    setToken(null); // a stale token in local mode: go on as the local user
    window.location.reload();
  }
});

// --- start ------------------------------------------------------------------------------

async function refreshStatus() {
  try {
    const status = await api.get("status");
    state.auth = status.auth;
    const queue = status.queue || {};
    const busy = (queue.running ? 1 : 0) + (queue.waiting || 0);
    $("#server-status").textContent = `model ${status.model} (${status.model_state})`
      + (busy ? ` · ${busy} in line` : "");
    return status;
  } catch (exc) {
    $("#server-status").textContent = exc instanceof ApiError ? exc.message : "offline";
    return null;
  }
}

async function start() {
  if (state.auth === "token") {
    try {
      state.me = await api.get("auth/me");
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status !== 401) showLogin(exc.message);
      return;
    }
    $("#who").textContent = `${state.me.user.name} (${state.me.acting_role})`;
    $("#logout").hidden = false;
  } else {
    $("#who").textContent = "local mode";
  }
  state.started = true;
  await chat.loadSessions();
  await route();
}

async function boot() {
  const status = await refreshStatus();
  if (!status) {
    showPage("chat");
    announce("The server did not answer.");
  }
  if (state.auth === "token" && !getToken()) {
    showLogin();
    return;
  }
  await start();
  window.setInterval(() => {
    if (!document.hidden) refreshStatus();
  }, 15000);
}

$("#skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  if (document.body.dataset.page === "fleet") $("#fleet-title").focus();
  else if (document.body.dataset.page === "login") $("#login-name").focus();
  else chat.focusInput();
});

document.body.dataset.ready = "loading";
boot().finally(() => {
  document.body.dataset.ready = "true";
});
