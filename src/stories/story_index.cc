#include "steppewatch/stories/story_index.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "steppewatch/common/check.h"

namespace steppewatch::stories {
namespace {

constexpr int kTables = 4;
constexpr size_t kBuckets = 65536;

inline uint32_t BlockOf(Fingerprint fp, int table) {
  return static_cast<uint32_t>((fp >> (16 * table)) & 0xffff);
}

// The bucket scan: writes the positions of the fingerprints within `k` of `q` in fps[0, n) to
// `out` (at most kMaxHits) and returns how many. Three versions chosen once at run time: the
// build targets generic x86-64, where __builtin_popcountll is a library call, and the AVX-512
// VPOPCNTQ version tests eight fingerprints per instruction.
constexpr int kMaxHits = 64;  // near-duplicates of one item in one bucket; more is pathological

__attribute__((target("avx512f,avx512vpopcntdq"))) int ScanAvx512(const uint64_t* fps, uint32_t n,
                                                                  uint64_t q, int k,
                                                                  uint32_t* out) {
  const __m512i query = _mm512_set1_epi64(static_cast<long long>(q));
  const __m512i limit = _mm512_set1_epi64(k);
  int hits = 0;
  for (uint32_t i = 0; i < n; i += 8) {
    __mmask8 valid = n - i >= 8 ? 0xff : static_cast<__mmask8>((1u << (n - i)) - 1);
    __m512i v = _mm512_maskz_loadu_epi64(valid, fps + i);
    __m512i d = _mm512_popcnt_epi64(_mm512_xor_si512(v, query));
    __mmask8 m = _mm512_mask_cmple_epu64_mask(valid, d, limit);
    while (m != 0 && hits < kMaxHits) {  // rare: a near-duplicate
      out[hits++] = i + static_cast<uint32_t>(__builtin_ctz(m));
      m &= m - 1;
    }
  }
  return hits;
}

__attribute__((target("popcnt"))) int ScanPopcnt(const uint64_t* fps, uint32_t n, uint64_t q, int k,
                                                 uint32_t* out) {
  int hits = 0;
  for (uint32_t i = 0; i < n && hits < kMaxHits; ++i) {
    if (__builtin_popcountll(fps[i] ^ q) <= k) out[hits++] = i;
  }
  return hits;
}

int ScanGeneric(const uint64_t* fps, uint32_t n, uint64_t q, int k, uint32_t* out) {
  int hits = 0;
  for (uint32_t i = 0; i < n && hits < kMaxHits; ++i) {
    if (__builtin_popcountll(fps[i] ^ q) <= k) out[hits++] = i;
  }
  return hits;
}

using ScanFn = int (*)(const uint64_t*, uint32_t, uint64_t, int, uint32_t*);

ScanFn ChooseScan() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) {
    return &ScanAvx512;
  }
  if (__builtin_cpu_supports("popcnt")) return &ScanPopcnt;
  return &ScanGeneric;
}

const ScanFn kScan = ChooseScan();

}  // namespace

StoryIndex::StoryIndex(int64_t window_ms, int max_distance)
    : window_ms_(window_ms),
      max_distance_(std::clamp(max_distance, 0, 3)),
      tables_(new Bucket[kTables * kBuckets]) {}

StoryIndex::~StoryIndex() {
  for (size_t i = 0; i < kTables * kBuckets; ++i) std::free(tables_[i].fps);
}

StoryIndex::Chunk& StoryIndex::ChunkOf(uint64_t seq) const {
  return chunks_[(seq >> kChunkBits) - (head_seq_ >> kChunkBits)];
}

Story& StoryIndex::At(uint64_t seq) const { return ChunkOf(seq).stories[seq & (kChunkSize - 1)]; }

uint64_t StoryIndex::FullSeq(uint32_t low) const {
  // Live sequence numbers span far less than 2^32, so the low bits name one of them.
  return head_seq_ + static_cast<uint32_t>(low - static_cast<uint32_t>(head_seq_));
}

void StoryIndex::Grow(Bucket& b, uint32_t new_cap) {
  // fps and seqs share one allocation: 12 bytes per slot.
  auto* fresh = static_cast<uint64_t*>(std::malloc(size_t{new_cap} * 12));
  SW_CHECK(fresh != nullptr);  // out of memory: nothing sane to do on the data path
  if (b.size > 0) {
    std::memcpy(fresh, b.fps, size_t{b.size} * 8);
    std::memcpy(reinterpret_cast<uint32_t*>(fresh + new_cap), b.seqs(), size_t{b.size} * 4);
  }
  std::free(b.fps);
  bucket_bytes_ += size_t{new_cap} * 12;
  bucket_bytes_ -= size_t{b.cap} * 12;
  b.fps = fresh;
  b.cap = new_cap;
}

void StoryIndex::IndexInsert(Fingerprint fp, uint32_t seq_low) {
  for (int t = 0; t < kTables; ++t) {
    Bucket& b = tables_[t * kBuckets + BlockOf(fp, t)];
    // Growth by 1.25 keeps the slack (and so the memory per story) small; a bucket grows
    // about 10 times in its life, each a copy of under 1 KiB.
    if (b.size == b.cap) Grow(b, b.cap < 4 ? 4 : b.cap + b.cap / 4 + 1);
    b.fps[b.size] = fp;
    b.seqs()[b.size] = seq_low;
    ++b.size;
  }
}

void StoryIndex::IndexRemove(Fingerprint fp, uint32_t seq_low) {
  for (int t = 0; t < kTables; ++t) __builtin_prefetch(&tables_[t * kBuckets + BlockOf(fp, t)]);
  for (int t = 0; t < kTables; ++t) {
    const Bucket& b = tables_[t * kBuckets + BlockOf(fp, t)];
    __builtin_prefetch(b.seqs());
  }
  for (int t = 0; t < kTables; ++t) {
    Bucket& b = tables_[t * kBuckets + BlockOf(fp, t)];
    uint32_t* seqs = b.seqs();
    for (uint32_t i = 0; i < b.size; ++i) {
      if (seqs[i] != seq_low) continue;
      --b.size;
      b.fps[i] = b.fps[b.size];
      seqs[i] = seqs[b.size];
      break;
    }
    // Give memory back when a bucket is mostly empty (the window's volume fell).
    if (b.cap > 16 && b.size < b.cap / 4) Grow(b, b.size + b.size / 2 + 4);
  }
}

std::string_view StoryIndex::StoredForm(std::string_view id) {
  if (id.size() > kMaxIdBytes) {
    size_t cut = kMaxIdBytes;
    while (cut > 0 && (static_cast<unsigned char>(id[cut]) & 0xC0) == 0x80) --cut;
    id = id.substr(0, cut);
  }
  return id;
}

uint64_t StoryIndex::IdHash(std::string_view id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return h ^ (h >> 32);
}

StoryIndex::Assignment StoryIndex::Assign(Fingerprint fp, std::string_view item_id, int64_t time_ms,
                                          uint64_t source_hash, int language_index) {
  Assignment out;
  int64_t oldest_open = time_ms - window_ms_;
  if (fp != 0) {
    int best_d = max_distance_ + 1;
    uint64_t best_seq = 0;
    bool found = false;
    // The four buckets are in four random places of a large table: start all their cache misses
    // before waiting on the first.
    for (int t = 0; t < kTables; ++t) __builtin_prefetch(&tables_[t * kBuckets + BlockOf(fp, t)]);
    for (int t = 0; t < kTables; ++t)
      __builtin_prefetch(tables_[t * kBuckets + BlockOf(fp, t)].fps);
    for (int t = 0; t < kTables; ++t) {
      const Bucket& b = tables_[t * kBuckets + BlockOf(fp, t)];
      if (b.size == 0) continue;
      uint32_t hits[kMaxHits];
      int n = kScan(b.fps, b.size, fp, max_distance_, hits);
      for (int h = 0; h < n; ++h) {
        uint32_t i = hits[h];
        int d = __builtin_popcountll(b.fps[i] ^ fp);
        uint64_t seq = FullSeq(b.seqs()[i]);
        if (At(seq).first_seen_ms < oldest_open) continue;  // its window is over
        if (d < best_d || (d == best_d && seq < best_seq)) {
          best_d = d;
          best_seq = seq;
          found = true;
        }
      }
    }
    if (found) {
      Story& s = At(best_seq);
      out.seq = best_seq;
      out.story = &s;
      uint32_t item = static_cast<uint32_t>(IdHash(item_id));
      out.first_item = Id(best_seq) == StoredForm(item_id);
      if (out.first_item || (s.copies > 1 && s.last_item == item)) {
        out.same_item = true;
        return out;
      }
      s.last_item = item;
      if (s.copies != UINT32_MAX) ++s.copies;
      s.languages |= uint64_t{1} << (language_index & 63);
      uint16_t h = static_cast<uint16_t>(source_hash) | 1;  // never 0
      bool known = false;
      for (int i = 0; i < s.exact_sources; ++i) known |= s.sources[i] == h;
      if (!known) {
        if (s.exact_sources < kExactSources) {
          s.sources[s.exact_sources++] = h;
        } else {
          s.source_bits |= uint64_t{1} << ((source_hash >> 16) & 63);
        }
      }
      return out;
    }
  }
  if ((tail_seq_ & (kChunkSize - 1)) == 0 &&
      (tail_seq_ >> kChunkBits) - (head_seq_ >> kChunkBits) == chunks_.size()) {
    // The previous chunk is full: its ids will not grow any more.
    if (!chunks_.empty()) chunks_.back().ids.shrink_to_fit();
    Chunk c;
    if (spare_.stories != nullptr) {
      c = std::move(spare_);
      c.ids.clear();
    } else {
      c.stories.reset(new Story[kChunkSize]);
      c.ids.reserve(kChunkSize * 24);
    }
    chunks_.push_back(std::move(c));
  }
  uint64_t seq = tail_seq_++;
  Chunk& chunk = ChunkOf(seq);
  Story& s = chunk.stories[seq & (kChunkSize - 1)];
  s = Story{};
  s.fp = fp;
  s.first_seen_ms = time_ms;
  std::string_view stored = StoredForm(item_id);
  s.id_offset = chunk.ids.size();
  s.id_length = stored.size();
  chunk.ids.append(stored);
  s.last_item = static_cast<uint32_t>(IdHash(item_id));
  s.copies = 1;
  s.languages = uint64_t{1} << (language_index & 63);
  s.sources[0] = static_cast<uint16_t>(source_hash) | 1;
  s.exact_sources = 1;
  s.source_bits = 0;
  if (fp != 0) IndexInsert(fp, static_cast<uint32_t>(seq));
  out.seq = seq;
  out.story = &s;
  out.is_new = true;
  out.first_item = true;
  return out;
}

void StoryIndex::Expire(int64_t now_ms) {
  int64_t oldest_open = now_ms - window_ms_;
  while (head_seq_ < tail_seq_) {
    Story& s = At(head_seq_);
    if (s.first_seen_ms >= oldest_open) break;
    if (s.fp != 0) IndexRemove(s.fp, static_cast<uint32_t>(head_seq_));
    ++head_seq_;
    if ((head_seq_ & (kChunkSize - 1)) == 0) {
      spare_ = std::move(chunks_.front());
      chunks_.pop_front();
    }
  }
}

const Story* StoryIndex::Find(uint64_t seq) const {
  if (seq < head_seq_ || seq >= tail_seq_) return nullptr;
  return &At(seq);
}

std::string_view StoryIndex::Id(uint64_t seq) const {
  const Chunk& c = ChunkOf(seq);
  const Story& s = c.stories[seq & (kChunkSize - 1)];
  return std::string_view(c.ids.data() + s.id_offset, s.id_length);
}

uint32_t StoryIndex::Sources(const Story& story) {
  if (story.exact_sources < kExactSources || story.source_bits == 0) return story.exact_sources;
  // Linear counting over the sources past the exact ones: n = -m ln(empty / m).
  int set = __builtin_popcountll(story.source_bits);
  double empty = 64 - set;
  double estimate = set == 64 ? 64 * std::log(64.0) : -64 * std::log(empty / 64);
  return kExactSources + static_cast<uint32_t>(std::max(1.0, std::round(estimate)));
}

size_t StoryIndex::MemoryBytes() const {
  size_t bytes = bucket_bytes_ + kTables * kBuckets * sizeof(Bucket) +
                 (chunks_.size() + (spare_.stories != nullptr)) * kChunkSize * sizeof(Story) +
                 spare_.ids.capacity();
  for (const Chunk& c : chunks_) bytes += c.ids.capacity();
  return bytes;
}

}  // namespace steppewatch::stories
