// The project board: tasks by status, kept current from queries and live events.
// Versions decide which copy of a task is newer, so events and refetches may arrive in any order.

import * as api from "./api.js";
import { ago, h, initials } from "./dom.js";

export const STATUSES = [
  ["TODO", "To Do"],
  ["IN_PROGRESS", "In Progress"],
  ["IN_REVIEW", "In Review"],
  ["COMPLETED", "Completed"],
];
export const STATUS_LABEL = Object.fromEntries(STATUSES);
const FLASH_MS = 2000;

export class Board {
  #token;
  #els;
  #projects = [];
  #tasks = new Map();
  #filter = "all";
  #flashing = new Set();
  #listeners = [];

  /** els: { tabs, columns } */
  constructor(token, els) {
    this.#token = token;
    this.#els = els;
  }

  get projects() {
    return this.#projects;
  }

  /** The tasks in the selected project (or all of them), in a stable order. */
  get visibleTasks() {
    return [...this.#tasks.values()]
      .filter((task) => this.#filter === "all" || task.projectId === this.#filter)
      .sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
  }

  /** The selected project, or all of them. */
  get visibleProjects() {
    return this.#projects.filter((project) => this.#filter === "all" || project.id === this.#filter);
  }

  task(id) {
    return this.#tasks.get(id);
  }

  onChange(listener) {
    this.#listeners.push(listener);
  }

  async refresh() {
    const projects = await api.loadBoard(this.#token);
    this.#projects = projects.map(({ id, name }) => ({ id, name }));
    const fresh = new Map();
    for (const project of projects) {
      for (const task of project.tasks) {
        const known = this.#tasks.get(task.id);
        const newer = !known || task.version >= known.version;
        fresh.set(task.id, newer ? { ...task, projectId: project.id } : known);
      }
    }
    this.#tasks = fresh;
    if (!this.#projects.some((project) => project.id === this.#filter)) this.#filter = "all";
    this.#changed();
  }

  /** A taskStatusUpdated event; unknown tasks (a project just joined) trigger a refetch. */
  apply(event) {
    if (!this.#tasks.has(event.taskId)) return this.refresh();
    this.upsert({ ...event.task, projectId: event.projectId });
    return Promise.resolve();
  }

  upsert(task) {
    const known = this.#tasks.get(task.id);
    if (known && task.version <= known.version) return;
    this.#tasks.set(task.id, { ...known, ...task });
    if (known && known.status !== task.status) this.#flash(task.id);
    this.#changed();
  }

  clear() {
    this.#tasks.clear();
    this.#projects = [];
    this.#els.tabs.replaceChildren();
    this.#els.columns.replaceChildren();
  }

  #flash(id) {
    this.#flashing.add(id);
    setTimeout(() => this.#flashing.delete(id), FLASH_MS);
  }

  #changed() {
    this.#render();
    for (const listener of this.#listeners) listener();
  }

  #render() {
    this.#els.tabs.replaceChildren(...this.#tabs());
    const tasks = this.visibleTasks;
    this.#els.columns.replaceChildren(
      ...STATUSES.map(([status, label]) =>
        this.#column(status, label, tasks.filter((task) => task.status === status)),
      ),
    );
  }

  #tabs() {
    const tabs = [{ id: "all", name: "All projects" }, ...this.#projects];
    return tabs.map((project) =>
      h(
        "button",
        {
          type: "button",
          className: "tab",
          "aria-pressed": String(project.id === this.#filter),
          onclick: () => {
            this.#filter = project.id;
            this.#changed();
          },
        },
        project.name,
      ),
    );
  }

  #column(status, label, tasks) {
    const heading = `column-${status}`;
    return h(
      "section",
      { className: "column", "data-status": status, "aria-labelledby": heading },
      h(
        "header",
        { className: "column-head" },
        h("h2", { id: heading }, label),
        h("span", { className: "count", "aria-label": `${tasks.length} tasks` }, tasks.length),
      ),
      tasks.length
        ? h("ol", { className: "cards" }, tasks.map((task) => this.#card(task)))
        : h("p", { className: "empty" }, "No tasks"),
    );
  }

  #card(task) {
    const project = this.#projects.find((candidate) => candidate.id === task.projectId);
    const by = task.updatedBy ? ` by ${task.updatedBy.name}` : "";
    return h(
      "li",
      {
        className: this.#flashing.has(task.id) ? "card moved" : "card",
        "data-testid": "task-card",
        "data-task-id": task.id,
      },
      h(
        "button",
        {
          type: "button",
          className: "card-body",
          title: "Select for a status update",
          onclick: () => this.#els.onPick(task.id),
        },
        this.#filter === "all" && project ? h("span", { className: "chip" }, project.name) : null,
        h("span", { className: "card-title" }, task.title),
        h(
          "span",
          { className: "card-meta" },
          task.assignee
            ? h("span", { className: "avatar", title: task.assignee.name }, initials(task.assignee.name))
            : h("span", { className: "avatar none", title: "Unassigned" }, "–"),
          h("span", { className: "updated" }, "Updated ", ago(task.updatedAt), by),
          h("span", { className: "version", title: "Version" }, `v${task.version}`),
        ),
      ),
    );
  }
}
