from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import SQLiteAdapter

adapter = SQLiteAdapter("app.db")
adapter.create_tables(user_attributes={"username": "TEXT"})  # harmless when they exist
auth = lucia(
    adapter=adapter,
    env="DEV",  # "PROD" when served over HTTPS: cookies get Secure
    transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]},
)

try:
    user = auth.create_user("username", "alice", password="hunter2", attributes={"username": "alice"})
except LuciaError as error:
    if error.code != "AUTH_DUPLICATE_PROVIDER_ID":  # alice exists after a first run
        raise
user = auth.authenticate_user("username", "alice", "hunter2")
session = auth.create_session(user["user_id"])
headers = [("Set-Cookie", cookie.serialize()) for cookie in auth.create_session_cookies(session)]

# On a later request, with the id read from the cookie:
try:
    session = auth.validate_session(session.session_id)  # an idle session comes back renewed
except LuciaError as error:
    print(error.code)  # AUTH_INVALID_SESSION_ID when unknown, expired or malformed
