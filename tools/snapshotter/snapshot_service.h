// containerd's Snapshots gRPC service (a proxy snapshotter) over a
// strata::Snapshotter: each RPC is a call of the library, serialized, its
// Status mapped to the gRPC code containerd's errdefs expects.
#pragma once

#include <mutex>

#include <github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h>  // generated at build time
#include "strata/snapshotter.h"

namespace strata::snapshotter {

namespace api = containerd::services::snapshots::v1;

class SnapshotService final : public api::Snapshots::Service {
 public:
  explicit SnapshotService(Snapshotter& snapshots) : snapshots_(snapshots) {}

  grpc::Status Prepare(grpc::ServerContext*, const api::PrepareSnapshotRequest* req,
                       api::PrepareSnapshotResponse* resp) override;
  grpc::Status View(grpc::ServerContext*, const api::ViewSnapshotRequest* req,
                    api::ViewSnapshotResponse* resp) override;
  grpc::Status Mounts(grpc::ServerContext*, const api::MountsRequest* req,
                      api::MountsResponse* resp) override;
  grpc::Status Commit(grpc::ServerContext*, const api::CommitSnapshotRequest* req,
                      google::protobuf::Empty*) override;
  grpc::Status Remove(grpc::ServerContext*, const api::RemoveSnapshotRequest* req,
                      google::protobuf::Empty*) override;
  grpc::Status Stat(grpc::ServerContext*, const api::StatSnapshotRequest* req,
                    api::StatSnapshotResponse* resp) override;
  grpc::Status Update(grpc::ServerContext*, const api::UpdateSnapshotRequest* req,
                      api::UpdateSnapshotResponse* resp) override;
  grpc::Status List(grpc::ServerContext*, const api::ListSnapshotsRequest* req,
                    grpc::ServerWriter<api::ListSnapshotsResponse>* writer) override;
  grpc::Status Usage(grpc::ServerContext*, const api::UsageRequest* req, api::UsageResponse* resp) override;
  grpc::Status Cleanup(grpc::ServerContext*, const api::CleanupRequest* req,
                       google::protobuf::Empty*) override;

 private:
  std::mutex mu_;  // a Snapshotter serves one call at a time
  Snapshotter& snapshots_;
};

}  // namespace strata::snapshotter
