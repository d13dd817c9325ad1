// The Node peer: a graphql-js schema served by graphql-ws's `useServer` on `ws`,
// with subscriptions backed by graphql-subscriptions' PubSub + withFilter: the
// stack Apollo Server users run for subscriptions. Every delivery is a real
// graphql-js execution of the client's selection, per subscriber.
//
// /graphql  graphql-transport-ws; connection_init must carry {"authorization": "Bearer ..."}
// /control  JSON requests answered with the same rid:
//           {"op":"publish",taskId,version,oldStatus,newStatus} and {"op":"stats"}
//
// Run: node bench/peers/graphql-ws-peer.mjs --port P
import http from 'node:http';
import { parseArgs } from 'node:util';

import { buildSchema } from 'graphql';
import { PubSub, withFilter } from 'graphql-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const SDL = `
  scalar DateTime
  enum TaskStatus { TODO IN_PROGRESS IN_REVIEW COMPLETED }
  type User { id: ID! name: String! email: String! }
  type Task { id: ID! title: String! status: TaskStatus! version: Int! }
  type TaskStatusEvent {
    cursor: String! taskId: ID! taskTitle: String! projectId: ID! projectName: String!
    oldStatus: TaskStatus! newStatus: TaskStatus! updatedBy: User! message: String!
    occurredAt: DateTime! task: Task!
  }
  type Query { me: User! }
  type Subscription { taskStatusUpdated(projectIds: [ID!], after: String): TaskStatusEvent! }
`;

// Mirrors bench/peers/event_shape.py (and what bench/run.py seeds into TaskBell).
const PROJECT_ID = 1;
const PROJECT_NAME = 'Benchmark project';
const ACTOR = { id: '1', name: 'Bench User 0', email: 'bench0@example.com' };
const LABELS = { TODO: 'To Do', IN_PROGRESS: 'In Progress', IN_REVIEW: 'In Review', COMPLETED: 'Completed' };

function eventShape({ taskId, version, oldStatus, newStatus }) {
  const cursor = 'v1.' + Buffer.from(JSON.stringify({ [PROJECT_ID]: version })).toString('base64url');
  const title = `Benchmark task ${taskId}`;
  return {
    cursor,
    taskId: String(taskId),
    taskTitle: title,
    projectId: String(PROJECT_ID),
    projectName: PROJECT_NAME,
    oldStatus,
    newStatus,
    message: `${ACTOR.name} changed task '${title}' from '${LABELS[oldStatus]}' to '${LABELS[newStatus]}'`,
    occurredAt: new Date().toISOString(),
    updatedBy: ACTOR,
    task: { id: String(taskId), title, status: newStatus, version },
  };
}

const TOPIC = 'TASK_STATUS_UPDATED';
const pubsub = new PubSub();
let activeSubscriptions = 0;

// Count live subscriptions by the iterators the subscribe resolver hands out.
function counted(iterator) {
  activeSubscriptions += 1;
  let done = false;
  const release = () => {
    if (!done) {
      done = true;
      activeSubscriptions -= 1;
    }
  };
  return {
    next: () => iterator.next(),
    return: (value) => {
      release();
      return iterator.return ? iterator.return(value) : Promise.resolve({ value, done: true });
    },
    throw: (error) => {
      release();
      return iterator.throw ? iterator.throw(error) : Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

const schema = buildSchema(SDL);
const field = schema.getSubscriptionType().getFields().taskStatusUpdated;
const filtered = withFilter(
  () => pubsub.asyncIterableIterator(TOPIC),
  (event, args) => !args.projectIds || args.projectIds.includes(event.projectId),
);
field.subscribe = async (root, args, context, info) => counted(await filtered(root, args, context, info));
field.resolve = (event) => event;

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);

const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});
const graphqlWss = new WebSocketServer({ noServer: true });
const controlWss = new WebSocketServer({ noServer: true });

useServer(
  {
    schema,
    // What an Apollo setup does with connectionParams: reject sockets without a token.
    onConnect: (ctx) => String(ctx.connectionParams?.authorization ?? '').startsWith('Bearer '),
  },
  graphqlWss,
);

controlWss.on('connection', (socket) => {
  socket.on('message', async (raw) => {
    const request = JSON.parse(raw.toString());
    const reply = { rid: request.rid };
    if (request.op === 'publish') {
      await pubsub.publish(TOPIC, eventShape(request));
      reply.ok = true;
    } else if (request.op === 'stats') {
      reply.connections = graphqlWss.clients.size;
      reply.subscriptions = activeSubscriptions;
    } else {
      reply.error = 'unknown op';
    }
    socket.send(JSON.stringify(reply));
  });
});

server.on('upgrade', (request, socket, head) => {
  const { pathname } = new URL(request.url, 'http://127.0.0.1');
  const wss = pathname === '/graphql' ? graphqlWss : pathname === '/control' ? controlWss : null;
  if (!wss) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});

server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.log(`graphql-ws peer on ws://127.0.0.1:${port}/graphql`);
});
