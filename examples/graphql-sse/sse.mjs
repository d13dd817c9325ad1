// The graphql-sse client (distinct connections mode) against a running TaskBell: one user
// follows a project's status changes over Server-Sent Events while another changes a task over
// plain fetch; then the follower stops, misses two changes, and resumes with `after:` its last
// cursor. Exits 0 and prints a JSON summary, or exits 1 saying what went wrong.
//
//   TASKBELL_URL=http://127.0.0.1:8000 SUBSCRIBER_TOKEN=... WRITER_TOKEN=... \
//     PROJECT_ID=... TASK_ID=... node sse.mjs
//
// The task must be TODO; it ends TODO again, four versions later.

import { createClient } from "graphql-sse";

const WAIT_MS = 10000;

const TASK_STATUS_UPDATED = `
  subscription TaskStatusUpdated($projectIds: [ID!], $after: String) {
    taskStatusUpdated(projectIds: $projectIds, after: $after) {
      cursor message oldStatus newStatus
      updatedBy { id name }
      task { id status version }
    }
  }
`;
const TASK = "query Task($id: ID!) { task(id: $id) { id status version } }";
const UPDATE_TASK_STATUS = `
  mutation UpdateTaskStatus($taskId: ID!, $status: TaskStatus!, $expectedVersion: Int) {
    updateTaskStatus(taskId: $taskId, status: $status, expectedVersion: $expectedVersion) {
      id status version
    }
  }
`;
const SUBSCRIPTIONS = "query Subscriptions { realtimeStats { totalSubscriptions } }";

function setting(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Queries and mutations: one plain POST each, as any HTTP client would send them. */
async function graphql(url, token, query, variables = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const result = await response.json();
  if (result.errors) {
    throw new Error(`${query.trim().split("(")[0]}: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** One subscription read event by event; `stop()` closes its stream. */
class Feed {
  constructor(client, variables) {
    this.results = client.iterate({ query: TASK_STATUS_UPDATED, variables });
  }

  /** The next result as the server sent it (`{ data }` or `{ errors }`); null once it ended. */
  async nextResult(what) {
    const { value, done } = await within(WAIT_MS, this.results.next(), what);
    return done ? null : value;
  }

  async nextEvent(what) {
    const result = await this.nextResult(what);
    if (result === null) throw new Error(`the stream ended before ${what}`);
    if (result.errors) throw new Error(`${what}: ${JSON.stringify(result.errors)}`);
    return result.data.taskStatusUpdated;
  }

  async stop() {
    await this.results.return();
  }
}

async function main() {
  const url = setting("TASKBELL_URL");
  const projectId = setting("PROJECT_ID");
  const taskId = setting("TASK_ID");
  const writerToken = setting("WRITER_TOKEN");
  const client = createClient({
    url: `${url}/graphql`,
    headers: { Authorization: `Bearer ${setting("SUBSCRIBER_TOKEN")}` },
    singleConnection: false,
    retryAttempts: 0, // a check should fail at once, not reconnect behind our back
  });
  const count = async () =>
    (await graphql(url, writerToken, SUBSCRIPTIONS)).realtimeStats.totalSubscriptions;
  /** The server counts a subscription only once it runs: wait on that, never on a clock. */
  const until = (test, what) =>
    within(
      WAIT_MS,
      (async () => {
        while (!test(await count())) await new Promise((resolve) => setTimeout(resolve, 50));
      })(),
      what,
    );
  let version = (await graphql(url, writerToken, TASK, { id: taskId })).task.version;
  const change = async (status) => {
    const variables = { taskId, status, expectedVersion: version };
    const data = await graphql(url, writerToken, UPDATE_TASK_STATUS, variables);
    version = data.updateTaskStatus.version;
  };
  const projectIds = [projectId];

  try {
    // Live: subscribe, wait until the server runs it, then change the task.
    const baseline = await count();
    const live = new Feed(client, { projectIds });
    const firstEvent = live.nextEvent("live event");
    await until((n) => n >= baseline + 1, "live subscription");
    await change("IN_PROGRESS");
    const first = await firstEvent;
    await live.stop();
    await until((n) => n <= baseline, "closed stream to be gone");

    // Missed while away, then resumed: exactly those two, in order, then live again.
    await change("IN_REVIEW");
    await change("COMPLETED");
    const resumed = new Feed(client, { projectIds, after: first.cursor });
    const replayed = [await resumed.nextEvent("first replayed event")];
    replayed.push(await resumed.nextEvent("second replayed event"));
    await change("TODO");
    const liveAgain = await resumed.nextEvent("live event after the replay");
    await resumed.stop();

    // A cursor TaskBell never issued: one result with the error, then the stream completes.
    const refused = new Feed(client, { projectIds, after: "not-a-cursor" });
    const refusal = await refused.nextResult("refusal");
    const ended = (await refused.nextResult("end of the refused stream")) === null;
    const codes = (refusal?.errors ?? []).map((error) => error.extensions?.code ?? null);

    console.log(JSON.stringify({ live: first, replayed, liveAgain, refused: { codes, ended } }));
  } finally {
    client.dispose();
  }
}

main().catch((error) => {
  console.error(`graphql-sse check failed: ${error.stack ?? error}`);
  process.exit(1);
});
