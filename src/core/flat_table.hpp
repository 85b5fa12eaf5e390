#pragma once
// A hash table of values keyed by 64-bit hashes, stored flat: open addressing with linear
// probing over one array, no node per entry. For tables of millions of small entries on a
// hot path (per-user rate-limit state): a lookup touches one cache line, not three, and
// growing or clearing frees one block instead of millions.
//
// Keys are hashes already (fnv1a of a user key, say); they are mixed again before probing.
// `erase(key)` removes one entry (backward-shift deletion: no tombstones);
// `rebuild_without(drop)` copies the entries to keep into a fresh array, which is how idle
// entries are forgotten in bulk (amortised by the caller, like a rehash).
// Thread safety: none; callers serialise.

#include <cstdint>
#include <utility>
#include <vector>

namespace ma::core {

template <class V>
class FlatTable final {
 public:
  explicit FlatTable(std::size_t initial_capacity = 1024) {
    std::size_t cap = 16;
    while (cap < initial_capacity) cap *= 2;
    slots_.resize(cap);
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return slots_.size(); }

  // Forgets every entry and goes back to `capacity` slots.
  void clear(std::size_t capacity = 1024) { *this = FlatTable(capacity); }

  V* find(std::uint64_t key) {
    const std::uint64_t k = stored(key);
    for (std::size_t i = index(k);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.key == k) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }

  // The value for `key`, made by `make()` when absent. The reference lives until the next
  // insertion or rebuild.
  template <class Make>
  V& find_or_insert(std::uint64_t key, Make&& make) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow(slots_.size() * 2);
    const std::uint64_t k = stored(key);
    for (std::size_t i = index(k);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.key == k) return s.value;
      if (s.key == kEmpty) {
        s.key = k;
        s.value = make();
        ++size_;
        return s.value;
      }
    }
  }

  // Removes the entry for `key`; false when there was none. Later entries of its probe run
  // move back into the hole, so lookups never need tombstones.
  bool erase(std::uint64_t key) {
    const std::uint64_t k = stored(key);
    std::size_t hole = index(k);
    for (;; hole = (hole + 1) & mask()) {
      if (slots_[hole].key == kEmpty) return false;
      if (slots_[hole].key == k) break;
    }
    for (std::size_t j = (hole + 1) & mask(); slots_[j].key != kEmpty; j = (j + 1) & mask()) {
      // Entry j may fill the hole unless its home lies after the hole (cyclically, up to j).
      const std::size_t home = index(slots_[j].key);
      if (((j - home) & mask()) >= ((j - hole) & mask())) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

  // Keeps only the entries for which `drop(value)` is false, in an array sized for them (at
  // most half full).
  template <class Drop>
  void rebuild_without(Drop&& drop) {
    std::vector<Slot> old;
    old.swap(slots_);
    std::size_t keep = 0;
    for (Slot& s : old) {  // `drop` is asked once per entry; dropped slots are emptied
      if (s.key == kEmpty) continue;
      if (drop(s.value)) {
        s.key = kEmpty;
      } else {
        ++keep;
      }
    }
    std::size_t cap = 16;
    while (cap < keep * 2) cap *= 2;
    slots_.assign(cap, Slot{});
    size_ = 0;
    for (Slot& s : old) {
      if (s.key != kEmpty) place(s);
    }
  }

 private:
  static constexpr std::uint64_t kEmpty = 0;
  struct Slot {
    std::uint64_t key = kEmpty;
    V value{};
  };

  // The mixed key, never kEmpty.
  static std::uint64_t stored(std::uint64_t key) {
    key ^= key >> 33;  // murmur3's finaliser
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ULL;
    key ^= key >> 33;
    return key == kEmpty ? 1 : key;
  }
  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t index(std::uint64_t k) const { return static_cast<std::size_t>(k) & mask(); }

  void place(Slot& from) {
    for (std::size_t i = index(from.key);; i = (i + 1) & mask()) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = std::move(from);
        ++size_;
        return;
      }
    }
  }
  void grow(std::size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    size_ = 0;
    for (Slot& s : old) {
      if (s.key != kEmpty) place(s);
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace ma::core
