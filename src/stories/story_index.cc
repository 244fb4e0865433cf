#include "steppewatch/stories/story_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "steppewatch/common/check.h"
#include "stories/bucket_scan.h"

namespace steppewatch::stories {
namespace {

// Tables 0-3 index the fingerprint by its four 16-bit blocks; table 4 the lead key by its low
// 16 bits and table 5 the two sentence keys by their low 17 (the keys match exactly: the bucket
// and the filter compare 48 bits, 49 in the sentence table).
constexpr int kTables = 4;
constexpr int kLeadTable = kTables;
constexpr int kSentenceTable = kTables + 1;
constexpr int kAllTables = kTables + 2;
constexpr size_t kBuckets = 65536;
// The sentence table holds two keys per story (fingerprint.h: the sentence key and the second),
// so it has twice the buckets (its low 17 bits), and its buckets hold as many entries as the
// others': a new story, which scans it twice, reads as many lines there as in the other tables
// (with 65536 buckets twice as many, which cost the stage 18% at 5 M stories).
constexpr size_t kSentenceBuckets = 2 * kBuckets;
constexpr size_t kSlots = (kAllTables - 1) * kBuckets + kSentenceBuckets;
// The heads' allocation: a multiple of the 2 MiB alignment (aligned_alloc's rule).
constexpr size_t kHeadBytes =
    (kSlots * sizeof(uint64_t*) + (size_t{2} << 20) - 1) / (size_t{2} << 20) * (size_t{2} << 20);

// The rotation that brings table `table`'s block to the low bits.
inline int RotationOf(int table) { return table < kTables ? 16 * table : 0; }

inline size_t SlotOf(Fingerprint key, int table) {
  if (table == kSentenceTable) {
    return kSentenceTable * kBuckets + static_cast<size_t>(key & (kSentenceBuckets - 1));
  }
  return static_cast<size_t>(table) * kBuckets +
         static_cast<size_t>((key >> RotationOf(table)) & 0xffff);
}

// The filter of `key` in table `table`: the two 16-bit blocks after the table's own block (a key
// within k bits of another that shares the block is within k on them); in the sentence table the
// 32 bits after its bucket's 17.
inline uint32_t FilterOf(Fingerprint key, int table) {
  if (table == kSentenceTable) return static_cast<uint32_t>(key >> 17);
  const int r = RotationOf(table);
  const uint64_t rotated = r == 0 ? key : (key >> r) | (key << (64 - r));
  return static_cast<uint32_t>(rotated >> 16);
}

constexpr int kClassCount = 80;
// Bucket block sizes in words (see the header): 4, 6, ... 64 (16-byte steps, so a bucket's
// slack is small), then x1.125 in steps of 8 words.
struct ClassTable {
  uint32_t words[kClassCount];
};
constexpr ClassTable MakeClasses() {
  ClassTable t{};
  uint32_t w = 0;
  for (int c = 0; c < kClassCount; ++c) {
    w = c < 31 ? 4 + 2 * c : (w + w / 8 + 7) / 8 * 8;
    t.words[c] = w;
  }
  return t;
}
constexpr ClassTable kClassWords = MakeClasses();
// Blocks above this come from aligned_alloc, one each (a bucket of thousands of stories with one
// block value: a pathological stream).
constexpr uint32_t kMaxArenaWords = 16384;
static_assert(kClassWords.words[kClassCount - 1] > kMaxArenaWords);
constexpr size_t kArenaBytes = size_t{2} << 20;

// The smallest class of at least `words`, or kClassCount when none is.
int ClassFor(uint32_t words) {
  for (int c = 0; c < kClassCount; ++c) {
    if (kClassWords.words[c] >= words) return c;
  }
  return kClassCount;
}

inline uint32_t SizeOf(const uint64_t* bucket) { return static_cast<uint32_t>(bucket[0]); }
inline uint32_t CapOf(const uint64_t* bucket) { return static_cast<uint32_t>(bucket[0] >> 32); }
// A bucket's two arrays (story_index.h): the filters from word 1, the sequence numbers after the
// capacity's filters.
inline uint32_t* FiltersOf(uint64_t* bucket) { return reinterpret_cast<uint32_t*>(bucket + 1); }
inline const uint32_t* FiltersOf(const uint64_t* bucket) {
  return reinterpret_cast<const uint32_t*>(bucket + 1);
}
inline uint32_t* SeqsOf(uint64_t* bucket) { return FiltersOf(bucket) + CapOf(bucket); }
inline const uint32_t* SeqsOf(const uint64_t* bucket) { return FiltersOf(bucket) + CapOf(bucket); }

// The bucket scan (bucket_scan.h), its version chosen once at run time: the build targets
// generic x86-64, where __builtin_popcount is a library call; AVX2 tests eight filters per step
// and AVX-512 VPOPCNTD sixteen.
constexpr int kMaxHits = bucket_scan::kMaxHits;

const bucket_scan::ScanFn kScan = bucket_scan::Choose();

}  // namespace

void StoryIndex::Free::operator()(void* p) const { std::free(p); }

StoryIndex::StoryIndex(int64_t window_ms, int max_distance)
    : window_ms_(window_ms),
      max_distance_(std::clamp(max_distance, 0, 3)),
      free_(kClassCount, nullptr) {
  // The heads are read at random: in 2 MiB huge pages (where the kernel allows it) each
  // lookup's reads need no page walk.
  void* heads = std::aligned_alloc(size_t{2} << 20, kHeadBytes);
  SW_CHECK(heads != nullptr);
  madvise(heads, kHeadBytes, MADV_HUGEPAGE);  // a hint: without it, 4 KiB pages
  std::memset(heads, 0, kHeadBytes);
  heads_.reset(static_cast<uint64_t**>(heads));
}

StoryIndex::~StoryIndex() {
  for (size_t i = 0; i < kSlots; ++i) {
    if (heads_[i] != nullptr && CapOf(heads_[i]) + 1 > kMaxArenaWords) std::free(heads_[i]);
  }
  for (void* a : arenas_) std::free(a);
}

uint64_t* StoryIndex::AllocBlock(uint32_t words) {
  if (words > kMaxArenaWords) {
    const size_t bytes = (size_t{words} * 8 + 63) / 64 * 64;
    auto* p = static_cast<uint64_t*>(std::aligned_alloc(64, bytes));
    SW_CHECK(p != nullptr);  // out of memory: nothing sane to do on the data path
    bucket_bytes_ += bytes;
    return p;
  }
  const int c = ClassFor(words);
  const size_t bytes = size_t{kClassWords.words[c]} * 8;
  if (uint64_t* p = free_[c]) {
    free_[c] = reinterpret_cast<uint64_t*>(p[0]);
    free_bytes_ -= bytes;
    return p;
  }
  if (bump_left_ < bytes) {
    // A new arena; what is left of the last one (less than one block) stays unused.
    void* a = std::aligned_alloc(kArenaBytes, kArenaBytes);
    SW_CHECK(a != nullptr);
    madvise(a, kArenaBytes, MADV_HUGEPAGE);  // a hint: without it, 4 KiB pages
    arenas_.push_back(a);
    ++events_.arenas_allocated;
    bucket_bytes_ += kArenaBytes;
    bump_ = static_cast<char*>(a);
    bump_left_ = kArenaBytes;
  }
  auto* p = reinterpret_cast<uint64_t*>(bump_);
  bump_ += bytes;
  bump_left_ -= bytes;
  return p;
}

void StoryIndex::FreeBlock(uint64_t* block, uint32_t words) {
  if (words > kMaxArenaWords) {
    bucket_bytes_ -= (size_t{words} * 8 + 63) / 64 * 64;
    std::free(block);
    return;
  }
  const int c = ClassFor(words);
  block[0] = reinterpret_cast<uint64_t>(free_[c]);
  free_[c] = block;
  free_bytes_ += size_t{kClassWords.words[c]} * 8;
}

void StoryIndex::CompactArenas() {
  // Every bucket in the arenas slides down to the lowest free place, in address order (the
  // arenas sorted by address, a bucket never straddling two): the buckets end up back to back
  // from the first arena, every free block is gone, and the arenas past the last one used go
  // back to the system. Growth leaves a trail of smaller blocks that only other growing buckets
  // reuse (filling a window frees each bucket's every earlier size), so without this the free
  // lists would hold more than the buckets.
  // In place, because copying into newly allocated arenas had the kernel zero every page of
  // them at each compaction: about a tenth of the stage's time at 5 M stories. A bucket's new
  // place is never after its old one (each earlier bucket moved down too), so memmove is safe.
  const auto started = std::chrono::steady_clock::now();
  std::sort(arenas_.begin(), arenas_.end());
  std::vector<std::pair<uint64_t*, uint32_t>> blocks;  // (block, slot), rare: no reuse
  for (size_t slot = 0; slot < kSlots; ++slot) {
    uint64_t* b = heads_[slot];
    if (b == nullptr || CapOf(b) + 1 > kMaxArenaWords) continue;
    blocks.emplace_back(b, static_cast<uint32_t>(slot));
  }
  std::sort(blocks.begin(), blocks.end());
  size_t arena = 0;
  char* dest = arenas_.empty() ? nullptr : static_cast<char*>(arenas_[0]);
  size_t left = arenas_.empty() ? 0 : kArenaBytes;
  for (const auto& [b, slot] : blocks) {
    const size_t bytes = (size_t{CapOf(b)} + 1) * 8;
    if (bytes > left) {
      ++arena;
      SW_CHECK(arena < arenas_.size());  // the buckets fitted in these arenas before
      dest = static_cast<char*>(arenas_[arena]);
      left = kArenaBytes;
    }
    if (reinterpret_cast<char*>(b) != dest) {
      // The header and the filters, then the sequence numbers (the capacity's filters after
      // them in both places). dest is below b, so the first move ends before b's sequence
      // numbers begin.
      const size_t size = SizeOf(b), cap = CapOf(b);
      std::memmove(dest, b, 8 + size * 4);
      std::memmove(dest + 8 + cap * 4, reinterpret_cast<const char*>(b) + 8 + cap * 4, size * 4);
      heads_[slot] = reinterpret_cast<uint64_t*>(dest);
    }
    dest += bytes;
    left -= bytes;
  }
  const size_t used = blocks.empty() ? 0 : arena + 1;
  for (size_t i = used; i < arenas_.size(); ++i) std::free(arenas_[i]);
  bucket_bytes_ -= (arenas_.size() - used) * kArenaBytes;
  arenas_.resize(used);
  bump_ = used == 0 ? nullptr : dest;
  bump_left_ = used == 0 ? 0 : left;
  std::fill(free_.begin(), free_.end(), nullptr);
  free_bytes_ = 0;
  ++events_.packings;
  events_.packing_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now() - started)
                                                  .count());
}

StoryIndex::Chunk& StoryIndex::ChunkOf(uint64_t seq) const {
  return chunks_[(seq >> kChunkBits) - (head_seq_ >> kChunkBits)];
}

Story& StoryIndex::At(uint64_t seq) const { return ChunkOf(seq).stories[seq & (kChunkSize - 1)]; }

uint64_t StoryIndex::FullSeq(uint32_t low) const {
  // Live sequence numbers span far less than 2^32, so the low bits name one of them.
  return head_seq_ + static_cast<uint32_t>(low - static_cast<uint32_t>(head_seq_));
}

void StoryIndex::Resize(size_t slot, uint32_t new_cap) {
  uint64_t* old = heads_[slot];
  const uint32_t size = old != nullptr ? SizeOf(old) : 0;
  uint64_t* fresh = nullptr;
  if (new_cap > 0) {
    // The block's whole class is the capacity.
    const int c = ClassFor(new_cap + 1);
    const uint32_t words = c < kClassCount ? kClassWords.words[c] : new_cap + 1;
    fresh = AllocBlock(words);
    fresh[0] = size | (uint64_t{words - 1} << 32);
    if (size > 0) {
      std::memcpy(FiltersOf(fresh), FiltersOf(old), size_t{size} * 4);
      std::memcpy(SeqsOf(fresh), SeqsOf(old), size_t{size} * 4);
    }
  }
  if (old != nullptr) FreeBlock(old, CapOf(old) + 1);
  heads_[slot] = fresh;
  // Free blocks above a tenth of the arenas (and an arena's worth): pack the arenas. Each
  // compaction copies the buckets once and is followed by at least a tenth of them freed
  // again, so its cost per story stays a few bytes of copying. A tenth, not a sixth: the
  // window's memory peaks just before a packing, and with a sixth it peaked at 151 bytes per
  // story at 5 M stories with lead keys (145 with a tenth; benchmarks/README.md).
  if (free_bytes_ > kArenaBytes && 10 * free_bytes_ > arenas_.size() * kArenaBytes) {
    CompactArenas();
  }
}

void StoryIndex::Append(size_t slot, uint32_t filter, uint32_t seq) {
  uint64_t* b = heads_[slot];
  if (b != nullptr && SizeOf(b) == CapOf(b) && SizeOf(b) > 0 && Stale(SeqsOf(b)[0])) {
    // Full with stale entries: drop them before growing, so stale entries never make a bucket
    // grow (in a steady stream a bucket holds about its capacity's slack of them, as many as
    // were appended since it was last full; the sweep drops those of buckets no story is added
    // to).
    Compact(slot);
    b = heads_[slot];
  }
  if (b == nullptr || SizeOf(b) == CapOf(b)) {
    // The next class: small steps keep the slack (and so the memory per story) small; a
    // bucket grows about 10 times in its life, each a copy of under 1 KiB.
    const uint32_t cap = b == nullptr ? 0 : CapOf(b);
    Resize(slot, cap < 3 ? 3 : cap + cap / 8 + 1);
    b = heads_[slot];
  }
  const uint32_t size = SizeOf(b);
  FiltersOf(b)[size] = filter;
  SeqsOf(b)[size] = seq;
  b[0] = (size + 1) | (uint64_t{CapOf(b)} << 32);
}

void StoryIndex::Compact(size_t slot) {
  uint64_t* b = heads_[slot];
  if (b == nullptr) return;
  const bool window_empty = tail_seq_ == head_seq_;
  const uint32_t size = SizeOf(b), cap = CapOf(b);
  // A bucket's entries are in sequence order (appended in it, kept in it by every move), and
  // stories expire in sequence order: the stale entries are a prefix. Drop it and slide the
  // rest of both arrays down (a memmove each, instead of a test and a branch per entry).
  uint32_t* filters = FiltersOf(b);
  uint32_t* seqs = SeqsOf(b);
  uint32_t first = 0;
  while (first < size && Stale(seqs[first])) ++first;
  const uint32_t kept = size - first;
  if (first > 0 && kept > 0) {
    std::memmove(filters, filters + first, size_t{kept} * 4);
    std::memmove(seqs, seqs + first, size_t{kept} * 4);
  }
  b[0] = kept | (uint64_t{cap} << 32);
  // Give memory back when a bucket is mostly empty (the window's volume fell).
  if (kept == 0 && window_empty) {
    Resize(slot, 0);
  } else if (cap > 15 && kept < cap / 4) {
    Resize(slot, kept + kept / 2 + 4);
  }
}

namespace {

// An item's lookups: one per table, and a second in the sentence table (its second sentence
// key).
constexpr int kLookups = kAllTables + 1;
inline int TableOf(int lookup) { return lookup < kAllTables ? lookup : kSentenceTable; }

// The key of each lookup (0: not looked up).
inline Fingerprint KeyOf(int lookup, Fingerprint fp, Fingerprint lead, Fingerprint sentence,
                         Fingerprint sentence2) {
  return lookup < kTables       ? fp
         : lookup == kLeadTable ? (lead != 0 ? lead : fp)
         : lookup < kAllTables  ? sentence
                                : sentence2;
}

}  // namespace

void StoryIndex::PrefetchHeads(Fingerprint fp, Fingerprint lead, Fingerprint sentence,
                               Fingerprint sentence2) const {
  for (int l = 0; l < kLookups; ++l) {
    const Fingerprint key = KeyOf(l, fp, lead, sentence, sentence2);
    const int t = TableOf(l);
    if (key != 0) __builtin_prefetch(&heads_[SlotOf(key, t)]);
  }
}

void StoryIndex::PrefetchBuckets(Fingerprint fp, Fingerprint lead, Fingerprint sentence,
                                 Fingerprint sentence2) const {
  // The buckets hold about size / 65536 entries each (Poisson: a few in ten hold 1.5 times
  // that); load the lines of 1.5 times the mean of their filters (the first line also holds the
  // bucket's size; a block starts anywhere in a line), at most 24. The sequence numbers are
  // read for the few filters that pass (and by the appends and compactions, which
  // PrefetchBucketRest loads).
  // The lead and sentence buckets are read only when no story is within the distance (a new
  // story, most of a window's alerts), and hold as many entries as the others when most stories
  // have a lead key (longer items): the same lines (their first line only cost a demand miss per
  // further line on every new story, ~7% of the stage at 5 M stories).
  const size_t bytes = 8 + (size() >> 16) * 6;
  const size_t lines = std::min<size_t>(24, bytes / 64 + 2);
  for (int l = 0; l < kLookups; ++l) {
    const Fingerprint key = KeyOf(l, fp, lead, sentence, sentence2);
    const int t = TableOf(l);
    if (key == 0) continue;
    const char* b = reinterpret_cast<const char*>(heads_[SlotOf(key, t)]);
    if (b == nullptr) continue;
    for (size_t l = 0; l < lines; ++l) __builtin_prefetch(b + 64 * l);
  }
}

void StoryIndex::PrefetchBucketStarts(Fingerprint fp, Fingerprint lead, Fingerprint sentence,
                                      Fingerprint sentence2) const {
  for (int l = 0; l < kLookups; ++l) {
    const Fingerprint key = KeyOf(l, fp, lead, sentence, sentence2);
    const int t = TableOf(l);
    if (key == 0) continue;
    const uint64_t* b = heads_[SlotOf(key, t)];
    if (b != nullptr) __builtin_prefetch(b);
  }
}

void StoryIndex::PrefetchBucketRest(Fingerprint fp, Fingerprint lead, Fingerprint sentence,
                                    Fingerprint sentence2) const {
  for (int l = 0; l < kLookups; ++l) {
    const Fingerprint key = KeyOf(l, fp, lead, sentence, sentence2);
    const int t = TableOf(l);
    if (key == 0) continue;
    const uint64_t* b = heads_[SlotOf(key, t)];
    if (b == nullptr) continue;
    // The filters' lines after the first, up to the one the next filter goes to (a new story
    // appends to every bucket it was looked up in), at most 64; then the line the next sequence
    // number goes to. The other sequence numbers are read for the filters that pass (rare) and
    // by a compaction (an append to a full bucket, the sweep).
    const uint32_t size = SizeOf(b);
    const uint32_t* filters = FiltersOf(b);
    const uintptr_t first = reinterpret_cast<uintptr_t>(b) & ~uintptr_t{63};
    const uintptr_t end = reinterpret_cast<uintptr_t>(filters + std::min<uint32_t>(size, 1008));
    for (uintptr_t line = first + 64; line <= end; line += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(line));
    }
    const uint32_t* seqs = filters + CapOf(b);
    __builtin_prefetch(seqs + size);  // a hint: past the block when it is full
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

bool StoryIndex::Nearest(Fingerprint key, int first, int count, int k, Fingerprint fp, Gate gate,
                         uint32_t tokens, int64_t oldest_open, uint64_t* seq) {
  // The fingerprint's stories are ranked by their distance to it, within k; the lead key's all
  // rank 0 (their keys are equal); the sentence keys' by their fingerprint's distance, within
  // kSentenceGate or contained (SentenceContained).
  const int limit = gate == Gate::kNone ? k : gate == Gate::kLead ? 0 : kSentenceGate;
  bool found = false;
  int best_d = 0;
  uint64_t best_seq = 0;
  const uint32_t head = static_cast<uint32_t>(head_seq_);
  const uint32_t live = static_cast<uint32_t>(tail_seq_ - head_seq_);
  for (int t = first; t < first + count; ++t) {
    const size_t slot = SlotOf(key, t);
    const uint64_t* b = heads_[slot];
    if (b == nullptr || SizeOf(b) == 0) continue;
    uint32_t hits[kMaxHits];
    int n = kScan(FiltersOf(b), SeqsOf(b), SizeOf(b), FilterOf(key, t), k, head, live, hits);
    // A lookup reads the filters only, and leaves stale entries to the appends and the sweep
    // (until 2026-12-06 it compacted a bucket with four stale entries, which read the first
    // line of its sequence numbers on every lookup; the scan skips stale entries either way).
    for (int h = 0; h < n; ++h) {
      uint64_t candidate = FullSeq(hits[h]);
      const Story& s = At(candidate);
      // The filter saw 32 bits; the story's fingerprint decides. The lead and sentence keys are
      // kept nowhere else: their bucket's bits and the filter's 32, all equal, are the check (two
      // different keys agree on them once in 2^48, 2^49 in the sentence table).
      const int d = gate == Gate::kNone   ? Distance(s.fp, key)
                    : gate == Gate::kLead ? 0
                                          : Distance(s.fp, fp);
      if (d > limit && (gate != Gate::kSentence || !SentenceContained(d, tokens, s.tokens))) {
        continue;
      }
      if (gate == Gate::kLead && !LeadJoins(Distance(s.fp, fp), tokens, s.tokens)) continue;
      if (s.first_seen_ms < oldest_open) continue;  // its window is over
      if (!found || d < best_d || (d == best_d && candidate < best_seq)) {
        found = true;
        best_d = d;
        best_seq = candidate;
      }
    }
  }
  *seq = best_seq;
  return found;
}

void StoryIndex::Join(uint64_t seq, std::string_view item_id, uint64_t source_hash,
                      int language_index, Assignment* out) {
  Story& s = At(seq);
  out->seq = seq;
  out->story = &s;
  uint32_t item = static_cast<uint32_t>(IdHash(item_id));
  out->first_item = Id(seq) == StoredForm(item_id);
  if (out->first_item || (s.copies > 1 && s.last_item == item)) {
    out->same_item = true;
    return;
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
}

StoryIndex::Assignment StoryIndex::Assign(Fingerprint fp, std::string_view item_id, int64_t time_ms,
                                          uint64_t source_hash, int language_index,
                                          Fingerprint lead, uint32_t tokens, Fingerprint sentence,
                                          Fingerprint sentence2) {
  if (fp != 0) {
    // The buckets are in random places: start all their cache misses before waiting on the
    // first (a batch starts them earlier still, through AssignPrefetched).
    PrefetchHeads(fp, lead, sentence, sentence2);
    PrefetchBuckets(fp, lead, sentence, sentence2);
  }
  return AssignPrefetched(fp, item_id, time_ms, source_hash, language_index, lead, tokens, sentence,
                          sentence2);
}

StoryIndex::Assignment StoryIndex::AssignPrefetched(Fingerprint fp, std::string_view item_id,
                                                    int64_t time_ms, uint64_t source_hash,
                                                    int language_index, Fingerprint lead,
                                                    uint32_t tokens, Fingerprint sentence,
                                                    Fingerprint sentence2) {
  static_assert(kChunkSize * kMaxIdBytes < (uint64_t{1} << 32), "Story::id_offset has 32 bits");
  Assignment out;
  int64_t oldest_open = time_ms - window_ms_;
  if (fp != 0) {
    uint64_t seq;
    static_assert(kLeadDistance == 0, "the lead table keeps no key to measure a distance with");
    if (sentence2 == sentence) sentence2 = 0;
    if (Nearest(fp, 0, kTables, max_distance_, fp, Gate::kNone, 0, oldest_open, &seq) ||
        Nearest(lead != 0 ? lead : fp, kLeadTable, 1, 0, fp, Gate::kLead, tokens, oldest_open,
                &seq) ||
        (sentence != 0 &&
         Nearest(sentence, kSentenceTable, 1, 0, fp, Gate::kSentence, tokens, oldest_open, &seq)) ||
        (sentence2 != 0 && Nearest(sentence2, kSentenceTable, 1, 0, fp, Gate::kSentence, tokens,
                                   oldest_open, &seq))) {
      Join(seq, item_id, source_hash, language_index, &out);
      return out;
    }
  } else {
    lead = sentence = sentence2 = 0;
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
  const auto seq32 = static_cast<uint32_t>(seq);
  Chunk& chunk = ChunkOf(seq);
  Story& s = chunk.stories[seq & (kChunkSize - 1)];
  s = Story{};
  s.fp = fp;
  s.tokens = std::min(tokens, kMaxFingerprintTokens);
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
  if (fp != 0) {
    for (int t = 0; t < kTables; ++t) Append(SlotOf(fp, t), FilterOf(fp, t), seq32);
  }
  if (lead != 0) Append(SlotOf(lead, kLeadTable), FilterOf(lead, kLeadTable), seq32);
  if (sentence != 0) {
    Append(SlotOf(sentence, kSentenceTable), FilterOf(sentence, kSentenceTable), seq32);
  }
  if (sentence2 != 0) {
    Append(SlotOf(sentence2, kSentenceTable), FilterOf(sentence2, kSentenceTable), seq32);
  }
  out.seq = seq;
  out.story = &s;
  out.is_new = true;
  out.first_item = true;
  return out;
}

void StoryIndex::Expire(int64_t now_ms) {
  int64_t oldest_open = now_ms - window_ms_;
  const uint64_t before = size();
  while (head_seq_ < tail_seq_) {
    Story& s = At(head_seq_);
    // Stories leave in the order they came. One whose own time is more than a window ahead of
    // the clock (an alert dated far ahead, which did not move the clock: see the stage's
    // guard) leaves when it reaches the head, or it would hold every later story past its end.
    if (s.first_seen_ms >= oldest_open && s.first_seen_ms <= now_ms + window_ms_) break;
    ++head_seq_;
    if ((head_seq_ & (kChunkSize - 1)) == 0) {
      spare_ = std::move(chunks_.front());
      chunks_.pop_front();
    }
  }
  const uint64_t expired = before - size();
  if (expired == 0) return;
  // The sweep: every bucket once while as many stories expire as the window held, so stale
  // entries of buckets no lookup reads are bounded by about one window's worth.
  sweep_due_ = std::min(static_cast<double>(kSlots), sweep_due_ + static_cast<double>(expired) *
                                                                      static_cast<double>(kSlots) /
                                                                      static_cast<double>(before));
  bool swept = false;
  while (sweep_due_ >= 1) {
    Compact(sweep_next_);
    sweep_next_ = (sweep_next_ + 1) % kSlots;
    sweep_due_ -= 1;
    swept = true;
  }
  if (swept) {
    // The bucket the sweep visits next, a dozen alerts from now at 5 M stories: start loading
    // it (a bucket in a random place, ~10 lines it reads and moves when any entry is stale).
    if (const uint64_t* b = heads_[sweep_next_]) {
      const size_t lines = std::min<size_t>(24, (8 + (size() >> 16) * 12) / 64 + 2);
      for (size_t l = 0; l < lines; ++l) __builtin_prefetch(b + 8 * l);
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
  size_t bytes = bucket_bytes_ + kHeadBytes +
                 (chunks_.size() + (spare_.stories != nullptr)) * kChunkSize * sizeof(Story) +
                 spare_.ids.capacity();
  for (const Chunk& c : chunks_) bytes += c.ids.capacity();
  return bytes;
}

}  // namespace steppewatch::stories
