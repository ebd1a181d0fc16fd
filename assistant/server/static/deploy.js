// The Deploy dialog: pick a device group or a pipeline stage; the flow becomes a snapshot
// (POST /snapshots) and a rollout starts (POST /rollouts). The server's refusals (a role
// that may not deploy, a busy or empty group, ...) are shown as it words them.

import { api } from "./api.js";
import { announce, h, fill, shortId, words } from "./ui.js";

export class DeployDialog {
  constructor(dialog) {
    this.dialog = dialog;
    this.form = dialog.querySelector("form");
    this.name = dialog.querySelector("#deploy-name");
    this.group = dialog.querySelector("#deploy-group");
    this.stage = dialog.querySelector("#deploy-stage");
    this.message = dialog.querySelector("#deploy-message");
    this.submit = dialog.querySelector("#deploy-submit");
    this.flow = null;
    this.opener = null;
    dialog.querySelector("#deploy-cancel").addEventListener("click", () => this.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.deploy();
    });
    this.group.addEventListener("change", () => this.pick("group"));
    this.stage.addEventListener("change", () => this.pick("stage"));
    dialog.addEventListener("close", () => {
      if (this.opener && this.opener.isConnected) this.opener.focus();
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) this.close(); // a click on the backdrop
    });
  }

  pick(kind) {
    const radio = this.form.querySelector(`input[name=target][value=${kind}]`);
    if (radio && !radio.disabled) radio.checked = true;
  }

  target() {
    const chosen = this.form.querySelector("input[name=target]:checked");
    return chosen ? chosen.value : "group";
  }

  async open(flow, title) {
    this.flow = flow;
    this.opener = document.activeElement;
    this.name.value = (title && title !== "New chat" ? title : "Flow from chat").slice(0, 200);
    this.say("");
    this.submit.disabled = false;
    this.submit.hidden = false;
    fill(this.group, h("option", { value: "" }, "Loading…"));
    fill(this.stage, h("option", { value: "" }, "Loading…"));
    this.dialog.showModal();
    this.name.focus();
    this.name.select();
    const [groups, pipelines] = await Promise.allSettled([api.get("groups"),
      api.get("pipelines")]);
    if (groups.status === "fulfilled") {
      const rows = groups.value.data;
      fill(this.group, rows.length ? rows.map((g) => h("option", { value: String(g.id) },
        `${g.name} (${g.device_count} device${g.device_count === 1 ? "" : "s"})`))
        : h("option", { value: "" }, "No device groups yet"));
    } else {
      fill(this.group, h("option", { value: "" }, "Could not load the groups"));
      this.say(groups.reason.message, "error");
    }
    if (pipelines.status === "fulfilled") {
      const options = [];
      for (const pipeline of pipelines.value.data) {
        for (const stage of pipeline.stages) {
          options.push(h("option", { value: String(stage.id) },
            `${pipeline.name} › ${stage.name}${stage.protected ? " (protected: needs approval)"
              : ""}`));
        }
      }
      fill(this.stage, options.length ? options
        : h("option", { value: "" }, "No pipeline stages yet"));
    } else {
      fill(this.stage, h("option", { value: "" }, "Could not load the pipelines"));
    }
    this.group.disabled = !this.group.value;
    this.stage.disabled = !this.stage.value;
    this.form.querySelector("input[value=group]").disabled = this.group.disabled;
    this.form.querySelector("input[value=stage]").disabled = this.stage.disabled;
    if (this.group.disabled && !this.stage.disabled) this.pick("stage");
    else this.pick("group");
    if (this.group.disabled && this.stage.disabled && groups.status === "fulfilled") {
      this.say("There is nowhere to deploy yet: create a device group (ask fleet, or the "
        + "API) and register a device in it.", "error");
      this.submit.disabled = true;
    }
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  say(text, kind = "") {
    this.message.className = `dialog-message ${kind}`;
    fill(this.message, text);
  }

  async deploy() {
    const kind = this.target();
    const select = kind === "stage" ? this.stage : this.group;
    if (!select.value) {
      this.say(kind === "stage" ? "Pick a pipeline stage." : "Pick a device group.", "error");
      return;
    }
    const name = this.name.value.trim();
    if (!name) {
      this.say("Give the snapshot a name.", "error");
      this.name.focus();
      return;
    }
    this.submit.disabled = true;
    this.say("Creating the snapshot…");
    let snapshot;
    try {
      snapshot = await api.post("snapshots", { name, flows: this.flow,
        description: "Deployed from the Plumb chat." });
    } catch (exc) {
      this.say(`The snapshot was refused: ${exc.message}`, "error");
      this.submit.disabled = false;
      return;
    }
    this.say("Starting the rollout…");
    const body = { snapshot_id: snapshot.id, name };
    body[kind === "stage" ? "stage_id" : "group_id"] = Number(select.value);
    let rollout;
    try {
      rollout = await api.post("rollouts", body);
    } catch (exc) {
      this.say(`Snapshot ${shortId(snapshot.id, 12)} was created, but the rollout was `
        + `refused: ${exc.message}`, "error");
      this.submit.disabled = false;
      return;
    }
    const where = select.selectedOptions[0] ? select.selectedOptions[0].textContent : "";
    const text = rollout.needs_approval
      ? `Rollout #${rollout.id} to ${where} waits for an owner's approval.`
      : `Rollout #${rollout.id} to ${where} started (${words(rollout.status)}).`;
    this.say("", "ok");
    this.message.append(h("span", { dataset: { rollout: String(rollout.id),
      snapshot: snapshot.id } }, text, " "),
    h("a", { href: "#/fleet", onclick: () => this.close() }, "Watch it on the fleet page"));
    this.submit.hidden = true;
    announce(text);
  }
}
