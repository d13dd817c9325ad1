"""FastAPI routes, the GraphQL router and the static web client."""
