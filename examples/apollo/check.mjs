// Apollo Client against a running TaskBell: one user subscribes, another changes a task over
// HTTP, and the subscriber's InMemoryCache must hold the task's new status and version. Exits 0
// and prints a JSON summary, or exits 1 saying what went wrong.
//
//   TASKBELL_URL=http://127.0.0.1:8000 SUBSCRIBER_TOKEN=... WRITER_TOKEN=... TASK_ID=... \
//     node check.mjs
// Optional: NEW_STATUS (default IN_PROGRESS); LINK=ws (default: the subscription over graphql-ws,
// joined to HttpLink by ApolloLink.split) or LINK=http (HttpLink alone, no WebSocket at all: the
// subscription travels as multipart HTTP, and the summary names the response's content type).

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const WAIT_MS = 10000;

const TASK = gql`
  query Task($id: ID!) {
    task(id: $id) { id title status version }
  }
`;
const TASK_STATUS_UPDATED = gql`
  subscription TaskStatusUpdated {
    taskStatusUpdated {
      cursor message newStatus
      updatedBy { id name }
      task { id status version }
    }
  }
`;
const UPDATE_TASK_STATUS = gql`
  mutation UpdateTaskStatus($taskId: ID!, $status: TaskStatus!, $expectedVersion: Int) {
    updateTaskStatus(taskId: $taskId, status: $status, expectedVersion: $expectedVersion) {
      id status version
    }
  }
`;
const SUBSCRIPTIONS = gql`
  query Subscriptions { realtimeStats { totalSubscriptions } }
`;

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
}

/** Subscriptions over graphql-ws, everything else over HTTP; both carry the bearer token. */
function taskbellClient(url, token) {
  const wsClient = createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  const http = new HttpLink({
    uri: `${url}/graphql`,
    headers: { authorization: `Bearer ${token}` },
  });
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  };
  const client = new ApolloClient({
    link: ApolloLink.split(isSubscription, new GraphQLWsLink(wsClient), http),
    cache: new InMemoryCache(),
  });
  return { client, wsClient };
}

/**
 * Everything over HttpLink alone. HttpLink asks for `multipart/mixed;subscriptionSpec=1.0` when
 * the operation is a subscription and reads the parts as they stream in (Node 20's fetch). The
 * fetch wrapper only records which content types answered those requests.
 */
function httpOnlyClient(url, token, streamedAs) {
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    const accept = new Headers(init?.headers).get("accept") ?? "";
    if (accept.includes("multipart/mixed")) streamedAs.push(response.headers.get("content-type"));
    return response;
  };
  const client = new ApolloClient({
    link: new HttpLink({
      uri: `${url}/graphql`,
      headers: { authorization: `Bearer ${token}` },
      fetch: recordingFetch,
    }),
    cache: new InMemoryCache(),
  });
  return { client, wsClient: null };
}

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function subscriptionCount(client) {
  const { data } = await client.query({ query: SUBSCRIPTIONS, fetchPolicy: "network-only" });
  return data.realtimeStats.totalSubscriptions;
}

/** The server counts a subscription only once it runs: wait for it before writing. */
async function untilSubscribed(client, count) {
  while ((await subscriptionCount(client)) < count) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function nextEvent(client) {
  let subscription;
  const event = new Promise((resolve, reject) => {
    subscription = client.subscribe({ query: TASK_STATUS_UPDATED }).subscribe({
      next: (result) => (result.error ? reject(result.error) : resolve(result.data.taskStatusUpdated)),
      error: reject,
    });
  });
  return { event, stop: () => subscription.unsubscribe() };
}

async function main() {
  const url = setting("TASKBELL_URL");
  const taskId = setting("TASK_ID");
  const newStatus = setting("NEW_STATUS", "IN_PROGRESS");
  const link = setting("LINK", "ws");
  if (link !== "ws" && link !== "http") throw new Error(`LINK must be ws or http, not ${link}`);
  const streamedAs = [];
  const connect = (token) =>
    link === "ws" ? taskbellClient(url, token) : httpOnlyClient(url, token, streamedAs);
  const subscriber = connect(setting("SUBSCRIBER_TOKEN"));
  const writer = connect(setting("WRITER_TOKEN"));
  try {
    const { data } = await subscriber.client.query({ query: TASK, variables: { id: taskId } });
    const before = data.task;
    const baseline = await subscriptionCount(writer.client);
    const { event, stop } = nextEvent(subscriber.client);
    await within(WAIT_MS, untilSubscribed(writer.client, baseline + 1), "live subscription");

    await writer.client.mutate({
      mutation: UPDATE_TASK_STATUS,
      variables: { taskId, status: newStatus, expectedVersion: before.version },
    });
    const received = await within(WAIT_MS, event, "taskStatusUpdated event");
    stop();

    const cache = subscriber.client.cache;
    const cached = cache.readFragment({
      id: cache.identify({ __typename: "Task", id: taskId }),
      fragment: gql`fragment CachedTask on Task { status version }`,
    });
    const expected = { status: newStatus, version: before.version + 1 };
    if (cached?.status !== expected.status || cached?.version !== expected.version) {
      throw new Error(`cache holds ${JSON.stringify(cached)}, expected ${JSON.stringify(expected)}`);
    }
    const summary = { link, before, event: received, cached };
    if (link === "http") summary.streamedAs = streamedAs;
    console.log(JSON.stringify(summary));
  } finally {
    await Promise.all([subscriber.wsClient?.dispose(), writer.wsClient?.dispose()]);
    subscriber.client.stop();
    writer.client.stop();
  }
}

main().catch((error) => {
  console.error(`Apollo check failed: ${error.stack ?? error}`);
  process.exit(1);
});
