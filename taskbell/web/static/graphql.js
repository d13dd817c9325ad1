// GraphQL over HTTP (queries, mutations) with errors that keep their extensions.code.

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; ") || "Request failed");
    this.name = "GraphQLRequestError";
    this.errors = errors;
  }

  get codes() {
    return this.errors.map((error) => error.extensions?.code).filter(Boolean);
  }

  hasCode(code) {
    return this.codes.includes(code);
  }
}

const REQUEST_TIMEOUT_MS = 10000;

export async function request(query, variables = {}, token = null) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch {
    throw new GraphQLRequestError([{ message: "The server cannot be reached." }]);
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new GraphQLRequestError([{ message: `Server answered ${response.status}` }]);
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  return body.data;
}
