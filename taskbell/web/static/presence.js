// Presence: who is online in the projects on screen (avatars in the board header), who edits
// which card (a badge on it), and marking yourself as editing the task chosen in quick update.

import { request } from "./graphql.js";
import { $, h, initials } from "./dom.js";

export const PRESENCE_CHANGED = `subscription PresenceChanged {
  presenceChanged {
    projectId
    joined { id name }
    left { id }
    editingStarted { user { id name } task { id } }
    editingStopped { user { id } task { id } }
  }
}`;
const SET_EDITING = `mutation SetEditing($taskId: ID!, $editing: Boolean!) {
  setEditing(taskId: $taskId, editing: $editing)
}`;
// The server's mark lapses after TASKBELL_EDITING_TTL_SECONDS (15 s by default).
const RENEW_MS = 5000;

export class Presence {
  #me;
  #board;
  #root;
  #projects = new Map(); // project id -> { online: Map(id -> user), editors: Map(key -> mark) }

  /** root: where the avatars go; live: the Live connection (its follow()). */
  constructor(me, board, root, live) {
    this.#me = me;
    this.#board = board;
    this.#root = root;
    board.onChange(() => this.#render());
    this.#follow(live);
  }

  #follow(live) {
    live.follow(PRESENCE_CHANGED, () => this.#reset(), {
      next: (data) => this.#apply(data.presenceChanged),
      restart: () => this.#follow(live),
    });
  }

  clear() {
    this.#projects.clear();
    this.#root.replaceChildren();
  }

  // Every (re)subscribe starts from the current state, sent as a diff from nobody.
  #reset() {
    this.#projects.clear();
    return {};
  }

  #apply(diff) {
    let project = this.#projects.get(diff.projectId);
    if (!project) this.#projects.set(diff.projectId, (project = { online: new Map(), editors: new Map() }));
    for (const user of diff.joined) project.online.set(user.id, user);
    for (const user of diff.left) project.online.delete(user.id);
    for (const mark of diff.editingStarted) project.editors.set(`${mark.user.id}:${mark.task.id}`, mark);
    for (const mark of diff.editingStopped) project.editors.delete(`${mark.user.id}:${mark.task.id}`);
    this.#render();
  }

  #render() {
    const onScreen = new Set(this.#board.visibleProjects.map((project) => project.id));
    const people = new Map();
    for (const [id, project] of this.#projects) {
      if (onScreen.has(id)) for (const user of project.online.values()) people.set(user.id, user);
    }
    const sorted = [...people.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.#root.replaceChildren(...sorted.map((user) => this.#avatar(user)));
    this.#paintCards();
  }

  #avatar(user) {
    const me = user.id === this.#me.id;
    return h(
      "li",
      { className: me ? "presence-user me" : "presence-user", "data-testid": "presence-user", title: `${user.name} is online` },
      h("span", { className: "avatar", "aria-hidden": "true" }, initials(user.name)),
      h("span", { className: "presence-name" }, me ? `${user.name} (you)` : user.name),
    );
  }

  /** An editing badge on each card someone else edits (cards are re-rendered by the board). */
  #paintCards() {
    const editors = new Map();
    for (const project of this.#projects.values()) {
      for (const mark of project.editors.values()) {
        if (mark.user.id === this.#me.id) continue;
        editors.set(mark.task.id, [...(editors.get(mark.task.id) ?? []), mark.user.name]);
      }
    }
    for (const card of document.querySelectorAll("[data-testid=task-card]")) {
      card.querySelector("[data-testid=editing-indicator]")?.remove();
      const names = editors.get(card.dataset.taskId);
      if (!names) continue;
      const text = `${names.join(", ")} ${names.length > 1 ? "are" : "is"} editing`;
      $(".card-body", card)?.append(h("span", { className: "editing", "data-testid": "editing-indicator" }, `✎ ${text}`));
    }
  }
}

/** Marks the task chosen in quick update as being edited: renewed while chosen, ended on
 * submit, on choosing another task and when the page is hidden. */
export class EditingMark {
  #token;
  #taskId = null;
  #timer = 0;
  #onHidden = () => document.visibilityState === "hidden" && this.clear();

  constructor(token) {
    this.#token = token;
    document.addEventListener("visibilitychange", this.#onHidden);
  }

  choose(taskId) {
    if (taskId === this.#taskId) return;
    this.clear();
    if (!taskId) return;
    this.#taskId = taskId;
    this.#send(taskId, true);
    this.#timer = setInterval(() => this.#send(taskId, true), RENEW_MS);
  }

  clear() {
    clearInterval(this.#timer);
    if (this.#taskId) this.#send(this.#taskId, false);
    this.#taskId = null;
  }

  stop() {
    this.clear();
    document.removeEventListener("visibilitychange", this.#onHidden);
  }

  #send(taskId, editing) {
    // Best effort: a lost mark only hides a badge, and it lapses on the server anyway.
    request(SET_EDITING, { taskId, editing }, this.#token).catch(() => {});
  }
}
