#include "store/catalog.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "strata/text.h"
#include "util/status_macros.h"

namespace strata {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layers(
  id TEXT PRIMARY KEY, parent TEXT NOT NULL, diff_digest TEXT NOT NULL,
  size INTEGER NOT NULL, entries INTEGER NOT NULL, created INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS layers_parent ON layers(parent);
CREATE TABLE IF NOT EXISTS layer_blobs(
  layer_id TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY(layer_id, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS layer_blobs_digest ON layer_blobs(digest);
CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_layers(
  image_id TEXT NOT NULL, position INTEGER NOT NULL, layer_id TEXT NOT NULL,
  PRIMARY KEY(image_id, position)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS image_layers_layer ON image_layers(layer_id);
CREATE TABLE IF NOT EXISTS tags(name TEXT PRIMARY KEY, image_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repo_digests(name TEXT PRIMARY KEY, image_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS build_cache(
  parent TEXT NOT NULL, key TEXT NOT NULL, layer_id TEXT NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY(parent, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS build_cache_layer ON build_cache(layer_id);
CREATE TABLE IF NOT EXISTS image_holds(
  image_id TEXT NOT NULL, holder TEXT NOT NULL, description TEXT NOT NULL,
  PRIMARY KEY(image_id, holder)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS layer_holds(
  layer_id TEXT NOT NULL, holder TEXT NOT NULL, description TEXT NOT NULL,
  PRIMARY KEY(layer_id, holder)) WITHOUT ROWID;
)sql";

Status DbError(sqlite3* db, const std::string& what) {
  return Status::IOError("catalog: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement with positional binding.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(const std::string& v) {
    if (s_) sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int64_t v) {
    if (s_) sqlite3_bind_int64(s_, ++n_, v);
    return *this;
  }
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> Step() {
    if (!s_) return DbError(db_, "prepare");
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return DbError(db_, "step");
  }
  Status Run() { return Step().status(); }
  std::string Text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    n_ = 0;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int n_ = 0;
};

// Calls `fn` for each row the statement yields.
template <typename Fn>
Status ForEachRow(Stmt& s, Fn fn) {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Status::OK();
    RETURN_IF_ERROR(fn());
  }
}

LayerInfo LayerFromRow(Stmt& s) {
  LayerInfo l;
  l.id = s.Text(0);
  l.parent = s.Text(1);
  l.diff_digest = s.Text(2);
  l.size = static_cast<uint64_t>(s.Int(3));
  l.entry_count = static_cast<uint64_t>(s.Int(4));
  l.created = s.Int(5);
  return l;
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    Status st = Status::IOError("catalog: open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return st;
  }
  std::unique_ptr<Catalog> c(new Catalog(db));
  sqlite3_busy_timeout(db, 30'000);
  RETURN_IF_ERROR(c->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  RETURN_IF_ERROR(c->Exec(kSchema));
  return c;
}

Catalog::~Catalog() {
  sqlite3_close(db_);
}

Status Catalog::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IOError("catalog: " + msg);
  }
  return Status::OK();
}

Catalog::Transaction::Transaction(Catalog& c) : c_(c), begin_(c.Exec("BEGIN IMMEDIATE")) {}

Catalog::Transaction::~Transaction() {
  if (begin_.ok() && !done_) (void)c_.Exec("ROLLBACK");
}

Status Catalog::Transaction::Commit() {
  RETURN_IF_ERROR(begin_);
  done_ = true;
  Status st = c_.Exec("COMMIT");
  if (!st.ok()) (void)c_.Exec("ROLLBACK");
  return st;
}

Status Catalog::InsertLayer(const LayerInfo& l, const std::vector<Digest>& blobs) {
  Stmt s(db_, "INSERT INTO layers VALUES(?,?,?,?,?,?)");
  RETURN_IF_ERROR(s.Bind(l.id)
                      .Bind(l.parent)
                      .Bind(l.diff_digest)
                      .Bind(static_cast<int64_t>(l.size))
                      .Bind(static_cast<int64_t>(l.entry_count))
                      .Bind(l.created)
                      .Run());
  Stmt b(db_, "INSERT OR IGNORE INTO layer_blobs VALUES(?,?)");
  for (const Digest& d : blobs) {
    RETURN_IF_ERROR(b.Bind(l.id).Bind(d.Hex()).Run());
    b.Reset();
  }
  return Status::OK();
}

Result<std::optional<LayerInfo>> Catalog::FindLayer(const std::string& id) {
  Stmt s(db_, "SELECT id,parent,diff_digest,size,entries,created FROM layers WHERE id=?");
  s.Bind(id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<LayerInfo>();
  return std::optional<LayerInfo>(LayerFromRow(s));
}

Result<std::vector<LayerInfo>> Catalog::Layers() {
  Stmt s(db_, "SELECT id,parent,diff_digest,size,entries,created FROM layers ORDER BY created,id");
  std::vector<LayerInfo> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back(LayerFromRow(s));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<Digest>> Catalog::DeleteLayer(const std::string& id) {
  Stmt orphans(db_,
               "SELECT digest FROM layer_blobs a WHERE layer_id=? AND NOT EXISTS "
               "(SELECT 1 FROM layer_blobs b WHERE b.digest=a.digest AND b.layer_id<>a.layer_id)");
  orphans.Bind(id);
  std::vector<Digest> out;
  RETURN_IF_ERROR(ForEachRow(orphans, [&]() -> Status {
    if (auto d = Digest::FromHex(orphans.Text(0))) out.push_back(*d);
    return Status::OK();
  }));
  RETURN_IF_ERROR(Stmt(db_, "DELETE FROM layer_blobs WHERE layer_id=?").Bind(id).Run());
  RETURN_IF_ERROR(Stmt(db_, "DELETE FROM layers WHERE id=?").Bind(id).Run());
  return out;
}

std::string Catalog::LayerUser::Describe() const {
  switch (kind) {
    case Kind::kImage: return "image " + id.substr(0, 12);
    case Kind::kChildLayer: return "layer " + id.substr(0, 12);
    case Kind::kBuildCache: return "the build cache";
    case Kind::kHold: return id;
    case Kind::kNone: break;
  }
  return "nothing";
}

Result<Catalog::LayerUser> Catalog::FindLayerUser(const std::string& id) {
  using Kind = LayerUser::Kind;
  Stmt img(db_, "SELECT image_id FROM image_layers WHERE layer_id=? LIMIT 1");
  img.Bind(id);
  ASSIGN_OR_RETURN(bool used, img.Step());
  if (used) return LayerUser{Kind::kImage, img.Text(0)};
  Stmt child(db_, "SELECT id FROM layers WHERE parent=? LIMIT 1");
  child.Bind(id);
  ASSIGN_OR_RETURN(bool has_child, child.Step());
  if (has_child) return LayerUser{Kind::kChildLayer, child.Text(0)};
  Stmt cache(db_, "SELECT 1 FROM build_cache WHERE layer_id=? LIMIT 1");
  cache.Bind(id);
  ASSIGN_OR_RETURN(bool cached, cache.Step());
  if (cached) return LayerUser{Kind::kBuildCache, ""};
  Stmt hold(db_, "SELECT description FROM layer_holds WHERE layer_id=? LIMIT 1");
  hold.Bind(id);
  ASSIGN_OR_RETURN(bool held, hold.Step());
  if (held) return LayerUser{Kind::kHold, hold.Text(0)};
  return LayerUser{};
}

Status Catalog::InsertCacheEntry(const std::string& parent, const std::string& key, const std::string& layer,
                                 int64_t created) {
  return Stmt(db_, "INSERT OR REPLACE INTO build_cache VALUES(?,?,?,?)")
      .Bind(parent)
      .Bind(key)
      .Bind(layer)
      .Bind(created)
      .Run();
}

Result<std::optional<std::string>> Catalog::FindCacheEntry(const std::string& parent,
                                                           const std::string& key) {
  Stmt s(db_, "SELECT layer_id FROM build_cache WHERE parent=? AND key=?");
  s.Bind(parent).Bind(key);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Result<std::vector<std::string>> Catalog::CacheLayers() {
  Stmt s(db_, "SELECT DISTINCT layer_id FROM build_cache ORDER BY layer_id");
  std::vector<std::string> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back(s.Text(0));
    return Status::OK();
  }));
  return out;
}

Status Catalog::DeleteCacheEntriesFor(const std::string& layer) {
  return Stmt(db_, "DELETE FROM build_cache WHERE layer_id=?").Bind(layer).Run();
}

Result<std::vector<std::string>> Catalog::DeleteCacheEntries() {
  Stmt s(db_, "SELECT DISTINCT layer_id FROM build_cache");
  std::vector<std::string> layers;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    layers.push_back(s.Text(0));
    return Status::OK();
  }));
  RETURN_IF_ERROR(Exec("DELETE FROM build_cache"));
  return layers;
}

Status Catalog::InsertImage(const ImageRow& image) {
  RETURN_IF_ERROR(Stmt(db_, "INSERT INTO images VALUES(?,?)").Bind(image.id).Bind(image.created).Run());
  Stmt s(db_, "INSERT INTO image_layers VALUES(?,?,?)");
  for (size_t i = 0; i < image.layers.size(); ++i) {
    RETURN_IF_ERROR(s.Bind(image.id).Bind(static_cast<int64_t>(i)).Bind(image.layers[i]).Run());
    s.Reset();
  }
  return Status::OK();
}

Result<std::optional<ImageRow>> Catalog::FindImage(const std::string& id) {
  Stmt s(db_, "SELECT created FROM images WHERE id=?");
  s.Bind(id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<ImageRow>();
  ImageRow image{id, s.Int(0), {}};
  Stmt l(db_, "SELECT layer_id FROM image_layers WHERE image_id=? ORDER BY position");
  l.Bind(id);
  RETURN_IF_ERROR(ForEachRow(l, [&]() -> Status {
    image.layers.push_back(l.Text(0));
    return Status::OK();
  }));
  return std::optional<ImageRow>(std::move(image));
}

Result<std::vector<ImageRow>> Catalog::Images() {
  Stmt s(db_, "SELECT id FROM images ORDER BY created DESC, id");
  std::vector<ImageRow> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    ASSIGN_OR_RETURN(auto image, FindImage(s.Text(0)));
    if (image) out.push_back(std::move(*image));
    return Status::OK();
  }));
  return out;
}

Result<std::multimap<std::string, std::string>> Catalog::BlobUsers() {
  Stmt s(db_, "SELECT digest, layer_id FROM layer_blobs ORDER BY digest");
  std::multimap<std::string, std::string> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.emplace(s.Text(0), s.Text(1));
    return Status::OK();
  }));
  return out;
}

Status Catalog::DeleteImage(const std::string& id) {
  RETURN_IF_ERROR(Stmt(db_, "DELETE FROM image_layers WHERE image_id=?").Bind(id).Run());
  RETURN_IF_ERROR(Stmt(db_, "DELETE FROM tags WHERE image_id=?").Bind(id).Run());
  RETURN_IF_ERROR(Stmt(db_, "DELETE FROM repo_digests WHERE image_id=?").Bind(id).Run());
  return Stmt(db_, "DELETE FROM images WHERE id=?").Bind(id).Run();
}

Status Catalog::SetTag(const std::string& name, const std::string& image_id) {
  return Stmt(db_, "INSERT OR REPLACE INTO tags VALUES(?,?)").Bind(name).Bind(image_id).Run();
}

Status Catalog::DeleteTag(const std::string& name) {
  return Stmt(db_, "DELETE FROM tags WHERE name=?").Bind(name).Run();
}

Result<std::optional<std::string>> Catalog::TagTarget(const std::string& name) {
  Stmt s(db_, "SELECT image_id FROM tags WHERE name=?");
  s.Bind(name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

// image id -> name, from a (name, image_id) table.
Result<std::multimap<std::string, std::string>> Catalog::NamesByImage(const char* sql) {
  Stmt s(db_, sql);
  std::multimap<std::string, std::string> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.emplace(s.Text(0), s.Text(1));
    return Status::OK();
  }));
  return out;
}

Result<std::multimap<std::string, std::string>> Catalog::TagsByImage() {
  return NamesByImage("SELECT image_id, name FROM tags ORDER BY name");
}

Status Catalog::SetRepoDigest(const std::string& name, const std::string& image_id) {
  return Stmt(db_, "INSERT OR REPLACE INTO repo_digests VALUES(?,?)").Bind(name).Bind(image_id).Run();
}

Result<std::multimap<std::string, std::string>> Catalog::RepoDigestsByImage() {
  return NamesByImage("SELECT image_id, name FROM repo_digests ORDER BY name");
}

Result<std::vector<std::string>> Catalog::IdsWithPrefix(const std::string& table, const std::string& prefix) {
  std::string sql = "SELECT id FROM " + std::string(table == "images" ? "images" : "layers") +
                    " WHERE substr(id,1,?)=? LIMIT 2";
  Stmt s(db_, sql.c_str());
  s.Bind(static_cast<int64_t>(prefix.size())).Bind(prefix);
  std::vector<std::string> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back(s.Text(0));
    return Status::OK();
  }));
  return out;
}

// Rows of (id, holder, description): image and layer holds alike.
Result<std::vector<Catalog::HoldRow>> HoldRows(Stmt& s) {
  std::vector<Catalog::HoldRow> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back({s.Text(0), s.Text(1), s.Text(2)});
    return Status::OK();
  }));
  return out;
}

Status Catalog::InsertHold(const std::string& image_id, const std::string& holder,
                           const std::string& description) {
  return Stmt(db_, "INSERT OR REPLACE INTO image_holds VALUES(?,?,?)")
      .Bind(image_id)
      .Bind(holder)
      .Bind(description)
      .Run();
}

Status Catalog::DeleteHold(const std::string& image_id, const std::string& holder) {
  return Stmt(db_, "DELETE FROM image_holds WHERE image_id=? AND holder=?").Bind(image_id).Bind(holder).Run();
}

Result<std::vector<Catalog::HoldRow>> Catalog::Holds(const std::string& image_id) {
  Stmt s(db_, image_id.empty()
                  ? "SELECT image_id, holder, description FROM image_holds ORDER BY image_id, holder"
                  : "SELECT image_id, holder, description FROM image_holds WHERE image_id=? ORDER BY holder");
  if (!image_id.empty()) s.Bind(image_id);
  return HoldRows(s);
}

Status Catalog::InsertLayerHold(const std::string& layer_id, const std::string& holder,
                                const std::string& description) {
  return Stmt(db_, "INSERT OR REPLACE INTO layer_holds VALUES(?,?,?)")
      .Bind(layer_id)
      .Bind(holder)
      .Bind(description)
      .Run();
}

Status Catalog::DeleteLayerHold(const std::string& layer_id, const std::string& holder) {
  return Stmt(db_, "DELETE FROM layer_holds WHERE layer_id=? AND holder=?").Bind(layer_id).Bind(holder).Run();
}

Result<std::vector<Catalog::HoldRow>> Catalog::LayerHolds() {
  Stmt s(db_, "SELECT layer_id, holder, description FROM layer_holds ORDER BY layer_id, holder");
  return HoldRows(s);
}

Result<int> Catalog::FormatVersion() {
  Stmt s(db_, "SELECT value FROM meta WHERE key='format'");
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return 0;  // a new catalog
  auto v = ParseUnsigned(s.Text(0), 10, 1000);
  if (!v) return Status::Corruption("catalog: format version '" + s.Text(0) + "' is not a number");
  return static_cast<int>(*v);
}

Status Catalog::SetFormatVersion(int version) {
  return Stmt(db_, "INSERT OR REPLACE INTO meta VALUES('format', ?)").Bind(std::to_string(version)).Run();
}

Result<std::vector<Catalog::LegacyContainer>> Catalog::LegacyContainers() {
  Stmt s(db_, "SELECT id, name, image_id, record FROM containers ORDER BY rowid");
  std::vector<LegacyContainer> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back({s.Text(0), s.Text(1), s.Text(2), s.Text(3)});
    return Status::OK();
  }));
  return out;
}

Result<std::vector<Catalog::LegacyVolume>> Catalog::LegacyVolumes() {
  Stmt s(db_, "SELECT name, driver, labels, options, anonymous, created FROM volumes ORDER BY name");
  std::vector<LegacyVolume> out;
  RETURN_IF_ERROR(ForEachRow(s, [&]() -> Status {
    out.push_back({s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4) != 0, s.Int(5), {}});
    return Status::OK();
  }));
  for (auto& v : out) {
    Stmt u(db_, "SELECT user FROM volume_users WHERE volume=? ORDER BY user");
    u.Bind(v.name);
    RETURN_IF_ERROR(ForEachRow(u, [&]() -> Status {
      v.users.push_back(u.Text(0));
      return Status::OK();
    }));
  }
  return out;
}

Status Catalog::DropLegacyTables() {
  return Exec(
      "DROP TABLE IF EXISTS containers; DROP TABLE IF EXISTS volume_users; DROP TABLE IF EXISTS volumes;");
}

}  // namespace strata
