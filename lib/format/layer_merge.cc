#include "format/layer_merge.h"

#include <algorithm>
#include <iterator>

#include "format/upper_dir.h"

namespace strata {

namespace {

std::string_view ParentOf(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

std::string JoinRel(std::string_view dir, std::string_view name) {
  return dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
}

bool IsAtOrBelow(std::string_view path, std::string_view dir) {
  if (dir.empty()) return true;
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

// Removes everything strictly below `path`.
void EraseBelow(MergedTree::Map& tree, const std::string& path) {
  if (path.empty()) {
    auto root = tree.find("");
    tree.erase(root == tree.end() ? tree.begin() : std::next(root), tree.end());
    return;
  }
  // Children sort in [path + "/", path + "0"): '0' is the byte after '/'.
  tree.erase(tree.lower_bound(path + "/"), tree.lower_bound(path + "0"));
}

}  // namespace

// Each redirected directory of `index` takes its origin's entries from the
// tree as it was below this layer; the layer's own entries then go on top.
void MergedTree::ApplyRedirects(size_t /*layer*/, const LayerIndex& index) {
  struct Move {
    std::string to, from;  // new path, origin path (in the layers below)
  };
  std::vector<Move> moves;
  for (const Entry& e : index.entries) {
    if (e.type != EntryType::kDirectory || e.redirect.empty() || e.path.empty()) continue;
    // Where the parent's contents are below: its own origin when a move above it redirected it.
    std::string parent(ParentOf(e.path));
    for (auto m = moves.rbegin(); m != moves.rend(); ++m) {
      if (IsAtOrBelow(parent, m->to)) {
        parent = m->from + parent.substr(m->to.size());
        break;
      }
    }
    std::string from = e.redirect[0] == '/' ? e.redirect.substr(1) : JoinRel(parent, e.redirect);
    while (!from.empty() && from.back() == '/') from.pop_back();
    moves.push_back({e.path, std::move(from)});
  }
  if (moves.empty()) return;
  // Everything is read from the tree below this layer before anything changes.
  std::vector<std::vector<std::pair<std::string, Ref>>> taken(moves.size());
  for (size_t i = 0; i < moves.size(); ++i) {
    const std::string& from = moves[i].from;
    auto origin = tree_.find(from);
    if (origin == tree_.end() || origin->second.entry->type != EntryType::kDirectory) continue;
    for (auto it = std::next(origin); it != tree_.end() && IsAtOrBelow(it->first, from); ++it) {
      taken[i].emplace_back(moves[i].to + std::string(it->first.substr(from.size())), it->second);
    }
  }
  for (size_t i = 0; i < moves.size(); ++i) {
    // Nothing of what was below the new name shows: the redirect replaces it.
    EraseBelow(tree_, moves[i].to);
    for (auto& [path, ref] : taken[i]) {
      moved_paths_.push_back(std::move(path));
      tree_.insert_or_assign(std::string_view(moved_paths_.back()), ref);
    }
  }
}

void MergedTree::Apply(size_t layer, const LayerIndex& index) {
  if (tree_.empty()) {
    // The bottom layer hides and merges with nothing, and its entries come
    // sorted without duplicates (FORMAT.md): each goes in at the end.
    for (const Entry& e : index.entries) {
      if (e.type != EntryType::kWhiteout) tree_.emplace_hint(tree_.end(), e.path, Ref{layer, &e});
    }
    return;
  }
  ApplyRedirects(layer, index);
  for (const Entry& e : index.entries) {
    auto at = tree_.lower_bound(e.path);
    const bool exists = at != tree_.end() && at->first == e.path;
    const bool had_dir = exists && at->second.entry->type == EntryType::kDirectory;
    if (e.type == EntryType::kWhiteout) {
      if (exists) tree_.erase(at);
      EraseBelow(tree_, e.path);
      continue;
    }
    if (e.type == EntryType::kDirectory && e.opaque) {
      EraseBelow(tree_, e.path);
      at = tree_.lower_bound(e.path);  // what followed `at` may be gone
    } else if (had_dir && e.type != EntryType::kDirectory) {
      EraseBelow(tree_, e.path);  // leaves `at` valid: it is not below itself
    }
    // A directory the tar only implied keeps a lower directory's metadata.
    if (e.type == EntryType::kDirectory && e.implicit && had_dir) continue;
    if (exists) {
      at->second = {layer, &e};
    } else {
      tree_.emplace_hint(at, e.path, Ref{layer, &e});
    }
  }
}

std::string OriginInLower(const LayerIndex& upper, std::string_view path) {
  if (path.empty()) return "";
  const Entry* e = upper.Find(path);
  const std::string_view name =
      path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  return upper::OriginOf(OriginInLower(upper, ParentOf(path)), name, e ? std::string_view(e->redirect) : "");
}

Status ResolveMetacopies(const std::vector<LayerIndex>& lower, LayerIndex& upper) {
  if (std::none_of(upper.entries.begin(), upper.entries.end(), [](const Entry& e) { return e.metacopy; }))
    return Status::OK();
  MergedTree tree;
  for (size_t i = 0; i < lower.size(); ++i) tree.Apply(i, lower[i]);
  std::vector<std::pair<size_t, const Entry*>> data(upper.entries.size());
  for (size_t i = 0; i < upper.entries.size(); ++i) {
    const Entry& e = upper.entries[i];
    if (!e.metacopy) continue;
    const std::string origin = OriginInLower(upper, e.path);
    auto it = tree.entries().find(origin);
    const Entry* found = it == tree.entries().end() ? nullptr : it->second.entry;
    if (found && found->type == EntryType::kHardlink)
      found = lower[it->second.layer].Find(found->link_target);
    if (!found || found->type != EntryType::kRegular || found->size != e.size) {
      return Status::Corruption("metacopy file " + e.path + " has no lower file of its size at " + origin);
    }
    data[i] = {it->second.layer, found};
  }
  for (size_t i = 0; i < upper.entries.size(); ++i) {
    Entry& e = upper.entries[i];
    if (!e.metacopy) continue;
    e.content = data[i].second->content;
    e.metacopy = false;
    e.redirect.clear();
  }
  return Status::OK();
}

LayerIndex FlattenRedirects(const std::vector<LayerIndex>& lower, const LayerIndex& upper) {
  std::vector<std::string> roots;  // outermost redirected directories
  for (const Entry& e : upper.entries) {
    if (e.type != EntryType::kDirectory || e.redirect.empty()) continue;
    if (roots.empty() || !IsAtOrBelow(e.path, roots.back())) roots.push_back(e.path);
  }
  if (roots.empty()) return upper;
  MergedTree tree;
  for (size_t i = 0; i < lower.size(); ++i) tree.Apply(i, lower[i]);
  const size_t top = lower.size();
  tree.Apply(top, upper);

  auto in_root = [&](std::string_view path) {
    auto it = std::upper_bound(roots.begin(), roots.end(), path,
                               [](std::string_view p, const std::string& r) { return p < r; });
    return it != roots.begin() && IsAtOrBelow(path, *std::prev(it));
  };
  LayerIndex out;
  for (const Entry& e : upper.entries) {
    if (!in_root(e.path)) out.entries.push_back(e);
  }
  // Each moved tree whole. Names of one file (hardlinks, by the layer and path
  // of their data) stay one file: the first name in order holds the data.
  std::map<std::pair<size_t, std::string>, std::string> primaries;
  for (const std::string& root : roots) {
    for (auto it = tree.entries().lower_bound(root);
         it != tree.entries().end() && IsAtOrBelow(it->first, root); ++it) {
      const auto& [layer, entry] = it->second;
      Entry e = *entry;
      e.path = std::string(it->first);
      e.redirect.clear();
      if (e.path == root) e.opaque = true;  // it holds all it shows
      if (e.type == EntryType::kRegular || e.type == EntryType::kHardlink) {
        const LayerIndex& source = layer == top ? upper : lower[layer];
        std::string data_path = e.type == EntryType::kHardlink ? e.link_target : entry->path;
        auto [primary, first] = primaries.try_emplace({layer, data_path}, e.path);
        if (first) {
          if (e.type == EntryType::kHardlink) {  // its data entry is elsewhere: this name holds it now
            const Entry* data = source.Find(data_path);
            if (!data) continue;
            std::string path = std::move(e.path);
            e = *data;
            e.path = std::move(path);
          }
        } else {
          std::string path = std::move(e.path);
          e = Entry{};
          e.path = std::move(path);
          e.type = EntryType::kHardlink;
          e.link_target = primary->second;
        }
      }
      out.entries.push_back(std::move(e));
    }
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

}  // namespace strata
