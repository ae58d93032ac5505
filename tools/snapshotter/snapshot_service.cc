#include "snapshot_service.h"

#include <cstdio>

namespace strata::snapshotter {

namespace {

using Lock = std::lock_guard<std::mutex>;

// The codes containerd's errdefs turns back into ErrNotFound, ErrAlreadyExists...
grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case Code::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case Code::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case Code::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case Code::kInUse: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case Code::kUnsupported: code = grpc::StatusCode::UNIMPLEMENTED; break;
    case Code::kPermissionDenied: code = grpc::StatusCode::PERMISSION_DENIED; break;
    default: break;
  }
  // NotFound and AlreadyExists are containerd's everyday questions; the rest is worth a line.
  if (code != grpc::StatusCode::NOT_FOUND && code != grpc::StatusCode::ALREADY_EXISTS)
    std::fprintf(stderr, "strata-snapshotter: %s\n", s.message().c_str());
  return grpc::Status(code, s.message());
}

std::map<std::string, std::string> Labels(const google::protobuf::Map<std::string, std::string>& labels) {
  return {labels.begin(), labels.end()};
}

template <typename Response>
grpc::Status MountsReply(Result<std::vector<SnapshotMount>> mounts, Response* resp) {
  if (!mounts.ok()) return ToGrpc(mounts.status());
  for (const SnapshotMount& m : *mounts) {
    containerd::types::Mount* out = resp->add_mounts();
    out->set_type(m.type);
    out->set_source(m.source);
    for (const auto& o : m.options) out->add_options(o);
  }
  return grpc::Status::OK;
}

void SetTime(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1'000'000'000);
  t->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

void FillInfo(const SnapshotInfo& info, api::Info* out) {
  out->set_name(info.name);
  out->set_parent(info.parent);
  out->set_kind(info.kind == SnapshotKind::kView     ? api::VIEW
                : info.kind == SnapshotKind::kActive ? api::ACTIVE
                                                     : api::COMMITTED);
  SetTime(info.created_ns, out->mutable_created_at());
  SetTime(info.updated_ns, out->mutable_updated_at());
  for (const auto& [k, v] : info.labels) (*out->mutable_labels())[k] = v;
}

}  // namespace

grpc::Status SnapshotService::Prepare(grpc::ServerContext*, const api::PrepareSnapshotRequest* req,
                                      api::PrepareSnapshotResponse* resp) {
  Lock lock(mu_);
  return MountsReply(snapshots_.Prepare(req->key(), req->parent(), Labels(req->labels())), resp);
}

grpc::Status SnapshotService::View(grpc::ServerContext*, const api::ViewSnapshotRequest* req,
                                   api::ViewSnapshotResponse* resp) {
  Lock lock(mu_);
  return MountsReply(snapshots_.View(req->key(), req->parent(), Labels(req->labels())), resp);
}

grpc::Status SnapshotService::Mounts(grpc::ServerContext*, const api::MountsRequest* req,
                                     api::MountsResponse* resp) {
  Lock lock(mu_);
  return MountsReply(snapshots_.Mounts(req->key()), resp);
}

grpc::Status SnapshotService::Commit(grpc::ServerContext*, const api::CommitSnapshotRequest* req,
                                     google::protobuf::Empty*) {
  Lock lock(mu_);
  return ToGrpc(snapshots_.Commit(req->name(), req->key(), Labels(req->labels())));
}

grpc::Status SnapshotService::Remove(grpc::ServerContext*, const api::RemoveSnapshotRequest* req,
                                     google::protobuf::Empty*) {
  Lock lock(mu_);
  return ToGrpc(snapshots_.Remove(req->key()));
}

grpc::Status SnapshotService::Stat(grpc::ServerContext*, const api::StatSnapshotRequest* req,
                                   api::StatSnapshotResponse* resp) {
  Lock lock(mu_);
  auto info = snapshots_.Stat(req->key());
  if (!info.ok()) return ToGrpc(info.status());
  FillInfo(*info, resp->mutable_info());
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Update(grpc::ServerContext*, const api::UpdateSnapshotRequest* req,
                                     api::UpdateSnapshotResponse* resp) {
  Lock lock(mu_);
  SnapshotInfo info;
  info.name = req->info().name();
  info.labels = Labels(req->info().labels());
  std::vector<std::string> fields(req->update_mask().paths().begin(), req->update_mask().paths().end());
  auto updated = snapshots_.Update(info, fields);
  if (!updated.ok()) return ToGrpc(updated.status());
  FillInfo(*updated, resp->mutable_info());
  return grpc::Status::OK;
}

grpc::Status SnapshotService::List(grpc::ServerContext*, const api::ListSnapshotsRequest* req,
                                   grpc::ServerWriter<api::ListSnapshotsResponse>* writer) {
  std::vector<SnapshotInfo> infos;
  {
    Lock lock(mu_);
    auto listed = snapshots_.List({req->filters().begin(), req->filters().end()});
    if (!listed.ok()) return ToGrpc(listed.status());
    infos = std::move(*listed);
  }
  constexpr size_t kBatch = 100;  // as containerd's own service sends them
  for (size_t i = 0; i < infos.size(); i += kBatch) {
    api::ListSnapshotsResponse batch;
    for (size_t j = i; j < std::min(infos.size(), i + kBatch); ++j) FillInfo(infos[j], batch.add_info());
    if (!writer->Write(batch)) break;  // the client went away
  }
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Usage(grpc::ServerContext*, const api::UsageRequest* req,
                                    api::UsageResponse* resp) {
  Lock lock(mu_);
  auto usage = snapshots_.Usage(req->key());
  if (!usage.ok()) return ToGrpc(usage.status());
  resp->set_size(usage->size);
  resp->set_inodes(usage->inodes);
  return grpc::Status::OK;
}

grpc::Status SnapshotService::Cleanup(grpc::ServerContext*, const api::CleanupRequest*,
                                      google::protobuf::Empty*) {
  Lock lock(mu_);
  return ToGrpc(snapshots_.Cleanup());
}

}  // namespace strata::snapshotter
