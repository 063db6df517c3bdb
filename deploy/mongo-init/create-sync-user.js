// The sync's own MongoDB user: readWrite on the tractian database, nothing else (it reads,
// upserts, marks and builds its indexes there). The mongo image runs this file once, as the
// root user, on the first start of an empty data volume; the names come from .env.
const user = process.env.MONGO_SYNC_USER;
const password = process.env.MONGO_SYNC_PASSWORD;
if (!user || !password) {
  throw new Error("MONGO_SYNC_USER and MONGO_SYNC_PASSWORD must be set in .env");
}
db.getSiblingDB("tractian").createUser({
  user: user,
  pwd: password,
  roles: [{ role: "readWrite", db: "tractian" }],
});
