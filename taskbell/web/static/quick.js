// The quick status-update widget: task select, status select, button.
// It sends the task's known version as expectedVersion, so a stale board shows a CONFLICT.

import * as api from "./api.js";
import { STATUS_LABEL, STATUSES } from "./board.js";
import { h } from "./dom.js";

export class QuickUpdate {
  #token;
  #board;
  #els;
  #editing;

  /** els: { form, task, status, submit, feedback }; editing: an EditingMark (presence.js) */
  constructor(token, board, els, editing = null) {
    this.#token = token;
    this.#board = board;
    this.#els = els;
    this.#editing = editing;
    els.status.replaceChildren(...STATUSES.map(([value, label]) => h("option", { value }, label)));
    els.task.addEventListener("change", () => {
      this.#matchStatus();
      this.#editing?.choose(els.task.value);
    });
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    board.onChange(() => this.sync());
  }

  /** Re-list the tasks, keeping the current choice when it is still there. */
  sync() {
    const chosen = this.#els.task.value;
    const groups = this.#board.projects.map((project) => {
      const tasks = this.#board.visibleTasks.filter((task) => task.projectId === project.id);
      return tasks.length
        ? h("optgroup", { label: project.name }, tasks.map((task) => this.#option(task)))
        : null;
    });
    this.#els.task.replaceChildren(...groups.filter(Boolean));
    this.#els.task.value = chosen; // selects nothing when that task is no longer listed
    if (this.#els.task.value !== chosen || !chosen) {
      this.#els.task.selectedIndex = 0;
      this.#matchStatus();
    }
    this.#els.submit.disabled = !this.#els.task.value;
  }

  pick(taskId) {
    this.#els.task.value = taskId;
    this.#editing?.choose(taskId);
    this.#matchStatus();
    this.#els.status.focus();
  }

  #option(task) {
    return h("option", { value: task.id }, `${task.title} (${STATUS_LABEL[task.status]})`);
  }

  #matchStatus() {
    const task = this.#board.task(this.#els.task.value);
    if (task) this.#els.status.value = task.status;
  }

  async #submit() {
    const task = this.#board.task(this.#els.task.value);
    const status = this.#els.status.value;
    if (!task) return;
    this.#editing?.clear();
    if (task.status === status) {
      this.#say(`“${task.title}” is already ${STATUS_LABEL[status]}.`, "info");
      return;
    }
    this.#els.submit.disabled = true;
    try {
      const updated = await api.updateTaskStatus(this.#token, task.id, status, task.version);
      this.#board.upsert({ ...updated, projectId: updated.project.id });
      this.#say(`Moved “${task.title}” to ${STATUS_LABEL[updated.status]}.`, "success");
    } catch (error) {
      await this.#failed(error, task);
    } finally {
      this.#els.submit.disabled = false;
    }
  }

  async #failed(error, task) {
    if (!error.hasCode?.("CONFLICT")) {
      this.#say(`Could not update “${task.title}”: ${error.message}`, "error");
      return;
    }
    const current = await api.loadTask(this.#token, task.id).catch(() => null);
    if (current) this.#board.upsert({ ...current, projectId: current.project.id });
    const who = current?.updatedBy?.name ?? "Someone";
    const now = current ? ` It is now ${STATUS_LABEL[current.status]} (version ${current.version}).` : "";
    this.#say(
      `Conflict: ${who} changed “${task.title}” before you.${now} Check the board and try again.`,
      "error",
    );
  }

  #say(text, kind) {
    this.#els.feedback.textContent = text;
    this.#els.feedback.dataset.kind = kind;
  }
}
