// Every operation the web client sends, and thin functions that run them over HTTP.

import { request as send } from "./graphql.js";

let unauthenticated = () => {};

/** Called whenever the server refuses the token we sent (revoked or expired), wherever it was. */
export function onUnauthenticated(listener) {
  unauthenticated = listener;
}

async function request(query, variables = {}, token = null) {
  try {
    return await send(query, variables, token);
  } catch (error) {
    if (token && error.hasCode?.("UNAUTHENTICATED")) unauthenticated(error);
    throw error;
  }
}

const TASK_FIELDS = "id title status version updatedAt assignee { id name } updatedBy { id name }";
const NOTIFICATION_FIELDS = "id message read createdAt project { id name } actor { id name }";

export const TASK_STATUS_UPDATED = `subscription TaskStatusUpdated($after: String) {
  taskStatusUpdated(after: $after) {
    cursor taskId projectId projectName message occurredAt oldStatus newStatus
    updatedBy { id name }
    task { ${TASK_FIELDS} }
  }
}`;

export const NOTIFICATION_RECEIVED = `subscription NotificationReceived($after: String) {
  notificationReceived(after: $after) { cursor ${NOTIFICATION_FIELDS} }
}`;

export async function login(email, password) {
  const data = await request(
    `mutation Login($email: String!, $password: String!) {
      login(email: $email, password: $password) { token expiresAt user { id name email } }
    }`,
    { email, password },
  );
  return data.login;
}

export async function logout(token) {
  await request("mutation Logout { logout }", {}, token);
}

export async function loadMe(token) {
  const data = await request("query Me { me { id name email } }", {}, token);
  return data.me;
}

export async function loadBoard(token) {
  const data = await request(
    `query Board { projects { id name tasks { ${TASK_FIELDS} } } }`,
    {},
    token,
  );
  return data.projects;
}

export async function loadTask(token, id) {
  const data = await request(
    `query Task($id: ID!) { task(id: $id) { ${TASK_FIELDS} project { id } } }`,
    { id },
    token,
  );
  return data.task;
}

export async function updateTaskStatus(token, taskId, status, expectedVersion) {
  const data = await request(
    `mutation UpdateTaskStatus($taskId: ID!, $status: TaskStatus!, $expectedVersion: Int) {
      updateTaskStatus(taskId: $taskId, status: $status, expectedVersion: $expectedVersion) {
        ${TASK_FIELDS} project { id }
      }
    }`,
    { taskId, status, expectedVersion },
    token,
  );
  return data.updateTaskStatus;
}

export async function loadNotifications(token, first, after = null) {
  const data = await request(
    `query Notifications($first: Int!, $after: String) {
      unreadNotificationCount
      notifications(first: $first, after: $after) {
        edges { cursor node { ${NOTIFICATION_FIELDS} } }
        pageInfo { hasNextPage endCursor }
      }
    }`,
    { first, after },
    token,
  );
  return {
    unread: data.unreadNotificationCount,
    nodes: data.notifications.edges.map((edge) => edge.node),
    pageInfo: data.notifications.pageInfo,
  };
}

/** Marks the given notifications read (all when ids is null); returns the new unread count. */
export async function markNotificationsRead(token, ids = null) {
  await request("mutation MarkRead($ids: [ID!]) { markNotificationsRead(ids: $ids) }", { ids }, token);
  const data = await request("query Unread { unreadNotificationCount }", {}, token);
  return data.unreadNotificationCount;
}

const PREFERENCES_FIELDS = "email push timeZone projects { project { id name } level }";

export async function loadPreferences(token) {
  const data = await request(`query Preferences { notificationPreferences { ${PREFERENCES_FIELDS} } }`, {}, token);
  return data.notificationPreferences;
}

/** change: any of { email, push, timeZone }; returns the preferences as saved. */
export async function updatePreferences(token, change) {
  const data = await request(
    `mutation UpdatePreferences($email: EmailMode, $push: Boolean, $timeZone: String) {
      updateNotificationPreferences(email: $email, push: $push, timeZone: $timeZone) {
        ${PREFERENCES_FIELDS}
      }
    }`,
    change,
    token,
  );
  return data.updateNotificationPreferences;
}

export async function setProjectLevel(token, projectId, level) {
  const data = await request(
    `mutation SetLevel($projectId: ID!, $level: NotificationLevel!) {
      setProjectNotificationLevel(projectId: $projectId, level: $level) { level }
    }`,
    { projectId, level },
    token,
  );
  return data.setProjectNotificationLevel;
}
