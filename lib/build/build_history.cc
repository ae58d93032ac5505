// strata history: an image's history entries joined with the layers that
// the non-empty ones made.
#include "strata/build.h"
#include "util/status_macros.h"

namespace strata {

Result<std::vector<HistoryRow>> ImageHistory(Store& store, const std::string& ref) {
  ASSIGN_OR_RETURN(Image image, store.GetImage(ref));
  std::vector<HistoryRow> rows;
  size_t next_layer = 0;
  for (const HistoryEntry& h : image.history) {
    HistoryRow row;
    row.created = h.created;
    row.created_nanos = h.created_nanos;
    row.created_by = h.created_by;
    row.comment = h.comment;
    if (!h.empty_layer && next_layer < image.layers.size()) {
      row.layer = image.layers[next_layer++];
      ASSIGN_OR_RETURN(LayerInfo layer, store.GetLayer(row.layer));
      row.size = layer.size;
    }
    rows.push_back(std::move(row));
  }
  // Layers the history does not describe (an image from elsewhere).
  for (; next_layer < image.layers.size(); ++next_layer) {
    HistoryRow row;
    row.layer = image.layers[next_layer];
    ASSIGN_OR_RETURN(LayerInfo layer, store.GetLayer(row.layer));
    row.size = layer.size;
    row.created = layer.created;
    rows.push_back(std::move(row));
  }
  return std::vector<HistoryRow>(rows.rbegin(), rows.rend());
}

}  // namespace strata
