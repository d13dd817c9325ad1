// Notification settings: the panel (email mode, time zone, a level per project) and the
// mute toggle per project on the board. Every control saves on change.

import * as api from "./api.js";
import { h, show } from "./dom.js";

export const EMAIL_MODES = [
  ["OFF", "Off"],
  ["IMMEDIATE", "Soon after (batched)"],
  ["HOURLY", "Hourly digest"],
  ["DAILY", "Daily digest (08:00)"],
];
export const LEVELS = [
  ["ALL", "All activity"],
  ["PARTICIPATING", "Tasks I'm part of"],
  ["MUTED", "Muted"],
];

function select(testid, options, value, onchange, attrs = {}) {
  return h(
    "select",
    { "data-testid": testid, onchange, ...attrs },
    options.map(([name, label]) => h("option", { value: name, selected: name === value }, label)),
  );
}

function zones(current) {
  const known = Intl.supportedValuesOf?.("timeZone") ?? [];
  const names = known.includes(current) ? known : [current, ...known];
  return names.map((name) => [name, name]);
}

export class Preferences {
  #token;
  #els;
  #guard;
  #prefs = null;

  /** els: { open, panel, body, mutes } */
  constructor(token, els, guard) {
    this.#token = token;
    this.#els = els;
    this.#guard = guard;
  }

  get isOpen() {
    return !this.#els.panel.hidden;
  }

  async load() {
    this.#prefs = await api.loadPreferences(this.#token);
    this.#render();
  }

  /** The board's projects changed (one joined or left): reload when ours differ. */
  syncProjects(projects) {
    if (!this.#prefs) return;
    const ours = this.#prefs.projects.map((p) => p.project.id).sort().join();
    const theirs = projects.map((p) => p.id).sort().join();
    if (ours !== theirs) this.#guard(this.load(), { quiet: true });
  }

  toggle(open = !this.isOpen) {
    show(this.#els.panel, open);
    this.#els.open.setAttribute("aria-expanded", String(open));
    if (open) this.#guard(this.load());
  }

  clear() {
    this.#prefs = null;
    show(this.#els.panel, false);
    this.#els.body.replaceChildren();
    this.#els.mutes.replaceChildren();
  }

  #save(change) {
    this.#guard(
      api.updatePreferences(this.#token, change).then((prefs) => {
        this.#prefs = prefs;
        this.#render();
      }),
    );
  }

  #setLevel(projectId, level) {
    this.#guard(
      api.setProjectLevel(this.#token, projectId, level).then((setting) => {
        const entry = this.#prefs?.projects.find((p) => p.project.id === projectId);
        if (entry) entry.level = setting.level;
        this.#render();
      }),
    );
  }

  #render() {
    const prefs = this.#prefs;
    if (!prefs) return;
    this.#els.body.replaceChildren(
      h(
        "label",
        { className: "field" },
        h("span", {}, "Email"),
        select("prefs-email", EMAIL_MODES, prefs.email, (e) => this.#save({ email: e.target.value })),
      ),
      h(
        "label",
        { className: "field" },
        h("span", {}, "Time zone (digests)"),
        select("prefs-zone", zones(prefs.timeZone), prefs.timeZone, (e) =>
          this.#save({ timeZone: e.target.value }),
        ),
      ),
      h("h3", {}, "Projects"),
      ...prefs.projects.map(({ project, level }) =>
        h(
          "label",
          { className: "field" },
          h("span", {}, project.name),
          select("prefs-level", LEVELS, level, (e) => this.#setLevel(project.id, e.target.value), {
            "data-project-id": project.id,
          }),
        ),
      ),
    );
    this.#els.mutes.replaceChildren(
      ...prefs.projects.map(({ project, level }) => {
        const muted = level === "MUTED";
        return h(
          "button",
          {
            type: "button",
            className: muted ? "mute muted" : "mute",
            "data-testid": "project-mute",
            "data-project-id": project.id,
            "aria-pressed": String(muted),
            title: muted ? `Unmute ${project.name}` : `Mute ${project.name}`,
            onclick: () => this.#setLevel(project.id, muted ? "ALL" : "MUTED"),
          },
          `${muted ? "Muted" : "Mute"}: ${project.name}`,
        );
      }),
    );
  }
}
