// lucia_wsgi client helpers: import from the auth routes, e.g.
//   import { getUser, signOut } from "/api/auth/client.js";
// The routes are found next to this module, so a custom prefix just works.

const route = (name) => new URL(name, import.meta.url);

export class LuciaClientError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "LuciaClientError";
    this.status = status;
  }
}

async function call(name, init = {}) {
  const response = await fetch(route(name), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    ...init,
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new LuciaClientError((body && body.message) || "unknown", response.status);
  }
  return body;
}

/** The signed-in user, or null. Renews an idle session. */
export async function getUser() {
  const body = await call("user");
  return (body && body.user) ?? null;
}

/** Invalidate the current session and clear its cookie. */
export async function signOut() {
  await call("logout", { method: "POST" });
}
