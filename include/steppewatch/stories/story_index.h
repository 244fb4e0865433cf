// StoryIndex: the stories of a sliding event-time window and the near-duplicate lookup of their
// fingerprints (Hamming distance <= kNearDuplicateDistance), for the stories stage.
//
// Lookup is the pigeonhole scheme of Manku et al. (WWW 2007) for k = 3: the 64-bit fingerprint is
// cut into four 16-bit blocks, and two fingerprints within distance 3 agree exactly on at least
// one block. Each block has a table of 65536 buckets holding, for the stories with that block
// value, 8-byte entries: 32 of the other 48 bits (a filter: a fingerprint within distance 3 is
// within 3 on them; a random one passes with probability 1.3e-6) and the story's sequence number,
// kept in two arrays. A lookup scans the filters of four buckets of ~N/65536 entries each (76 at
// 5 M stories: ~5 cache lines each) with a vector popcount, and reads the sequence number and
// the story of the few that pass to check the story's own fingerprint. This replaces the
// permuted sorted tables of the paper, which need a sort or a tree to insert and delete in a
// moving window.
//
// A story whose first item has a lead key (fingerprint.h: longer items) is also indexed by it,
// in a fifth table keyed by its low 16 bits (the entry's filter: the next 32; the lead keys
// must be equal, kLeadDistance = 0): an item that finds no story within the distance looks
// there for a story whose lead equals its own lead (its fingerprint when it has none) and whose
// fingerprint is within kLeadGate bits of its own (or the containment gate, LeadGate). Before
// 2026-12-05 leads within 1 bit matched, which took two tables (one per 32-bit half).
//
// A story whose first item has a sentence key (fingerprint.h: a body sentence of
// kSentenceTokens tokens) is indexed by it in a sixth table the same way: an item that finds no
// story by its fingerprint or its lead looks there for a story with its sentence key and a
// fingerprint within kSentenceGate bits of its own, or far enough for the two token counts to
// say the shorter text is contained in the longer (SentenceContained), the nearest (ties: the
// oldest). Its second sentence key (fingerprint.h) goes in the same table and is looked up after
// the first: a story is found by either of its first copy's keys through either of the item's.
// Story keeps no field for the lead or the sentence keys: the bucket's bits (16; 17 in the
// sentence table, which holds twice the keys and has twice the buckets) and the filter's 32, all
// equal, are the check (two different keys agree on them once in 2^48 or 2^49), so a key costs
// a story one 8-byte entry and no bytes of Story (dropping Story's copy of the lead key,
// 2026-12-05, made room for the second sentence key's entry: 147.3 bytes per story at the peak
// at 5 M stories against 145.7 before both; benchmarks/README.md, "Stories: the second sentence
// key").
//
// Expiry touches no bucket: a story leaves the window by moving the window's first sequence
// number past it, and its entries (four to seven) become stale (the scan tells them by their
// sequence number). A bucket's entries are in sequence order, so its stale entries are a prefix.
// They are dropped when a full bucket would grow (so in a steady stream a bucket holds about its
// capacity's slack of them) and by a sweep that visits every bucket once per
// turnover of the window (so quiet buckets give their memory back and a 32-bit sequence number
// never wraps into the live range).
//
// Stories live in a FIFO of fixed-size chunks in insertion order (their sequence number is their
// position), each chunk with the ids of its stories in one string, so expiry pops whole chunks
// from the front and memory is ~115-135 bytes per story at 1-5 M stories, everything counted,
// as measured with the 64-byte Story of before 2026-12-05 evening (not measured since for
// stories without keys); 147.3 at 5 M when every story has a lead and two sentence keys, the
// most just before the arenas are packed; with no per-story allocation (benchmarks/README.md,
// "Stories", "Stories: lead key", "Stories: sentence key" and "Stories: the second sentence
// key").
//
// What a story keeps, compactly: its fingerprint, id, first-seen time, copies (saturating at
// 2^32-1), the languages of its copies as a bitmap of language indexes the caller interns (exact
// for up to 64 languages), and its distinct sources: the first kExactSources distinct sources as
// 16-bit hashes (exact up to there, save a 1/65536 hash collision), and beyond that a 64-bit
// linear-counting bitmap (an estimate, about +-15% at 50 sources, saturating at ~260).
//
// Expiry is by first-seen time: a story takes copies for `window` after its first copy. Stories
// are expired in insertion order, so one inserted late (with an older first-seen time than the
// stories before it) leaves a little later than its time; it no longer takes copies once its
// window is over (lookups check the time).
//
// Not thread-safe; one per stage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {

// 56 bytes; what a lookup reads (fp, first_seen_ms, tokens) in the first 24. The first copy's
// lead and sentence keys are in the index's tables only (their bucket and filter are the check).
struct Story {
  Fingerprint fp = 0;
  int64_t first_seen_ms = 0;
  uint64_t id_offset : 32 = 0;  // into its chunk's ids (at most kChunkSize * kMaxIdBytes)
  uint64_t id_length : 8 = 0;
  uint64_t exact_sources : 8 = 0;  // used entries of sources[]
  uint64_t tokens : 16 = 0;        // the first copy's fingerprint_tokens (0: unknown)
  uint64_t languages = 0;          // bit i: language index i (mod 64) seen in a copy
  uint64_t source_bits = 0;  // linear-counting bitmap of every distinct source past the exact set
  uint16_t sources[4] = {};  // the first distinct sources' hashes (never 0)
  uint32_t copies = 0;
  // A hash of the latest copy's item id: the same item alerting to several topics arrives once
  // per topic and is one copy, not several.
  uint32_t last_item = 0;
};
static_assert(sizeof(Story) == 56);

class StoryIndex {
 public:
  static constexpr int kExactSources = 4;
  // Ids longer than this are cut (at a UTF-8 boundary) when stored: a story id is a reference,
  // and an unbounded id would make the window's memory unbounded.
  static constexpr size_t kMaxIdBytes = 255;

  // `window_ms`: how long a story takes copies after its first. `max_distance`: the Hamming
  // distance for a near-duplicate, at most 3 (the pigeonhole on four blocks needs it).
  explicit StoryIndex(int64_t window_ms, int max_distance = kNearDuplicateDistance);
  ~StoryIndex();
  StoryIndex(const StoryIndex&) = delete;
  StoryIndex& operator=(const StoryIndex&) = delete;

  struct Assignment {
    uint64_t seq = 0;  // the story's sequence number (stable while it is in the window)
    Story* story = nullptr;
    bool is_new = false;      // the story was created by this item
    bool first_item = false;  // this item is the story's first (its id is the story's id)
    bool same_item = false;   // the item was seen already (another topic's alert): not a copy
  };

  // Assigns an item to the story of the nearest fingerprint within the distance that is still
  // open at `time_ms` (ties: the oldest story), adding the copy's source and language to it; or
  // creates a new story with first copy (`item_id`, `time_ms`). An item that is the story's
  // first or latest copy again (`same_item`) changes nothing. Fingerprint 0 (an item without
  // text) never joins or is joined: it is a story of its own.
  // `source_hash`: any 64-bit hash of the source name; `language_index`: 0..63.
  // `lead`: the item's lead key, 0 when it has none (its fingerprint is its lead). When no story
  // is within the distance, the item joins the story whose lead is within kLeadDistance of its
  // lead (of its fingerprint when 0) and whose fingerprint is within kLeadGate of its own (the
  // nearest lead; ties: the oldest story). A new story with a lead is indexed by it too.
  // `tokens`: the tokens the item's fingerprint covers (0: unknown); with the story's first
  // copy's, it widens that gate for a copy cut short (stories::LeadGate).
  // `sentence`: the item's sentence key (fingerprint.h), 0 when it has none. When neither the
  // fingerprint nor the lead finds a story, the item joins the story whose first copy had the
  // same sentence key and whose fingerprint is within kSentenceGate of its own or contained
  // (SentenceContained with the two token counts) (the nearest
  // fingerprint; ties: the oldest story). A new story with one is indexed by it too.
  // `sentence2`: the item's second sentence key, 0 when it has none; looked up after `sentence`
  // in the same way (a story is indexed by both of its first copy's keys).
  Assignment Assign(Fingerprint fp, std::string_view item_id, int64_t time_ms, uint64_t source_hash,
                    int language_index, Fingerprint lead = 0, uint32_t tokens = 0,
                    Fingerprint sentence = 0, Fingerprint sentence2 = 0);
  // As Assign, without its own prefetches: for a caller that ran PrefetchHeads,
  // PrefetchBucketStarts and PrefetchBucketRest for (fp, lead), each some work apart (a batch).
  Assignment AssignPrefetched(Fingerprint fp, std::string_view item_id, int64_t time_ms,
                              uint64_t source_hash, int language_index, Fingerprint lead = 0,
                              uint32_t tokens = 0, Fingerprint sentence = 0,
                              Fingerprint sentence2 = 0);

  // Drops the stories whose window ended before `now_ms` (first_seen < now - window), oldest
  // first: a story dated later than those after it holds them until it goes, except one dated
  // more than a window after `now_ms`, which goes when it is the oldest.
  void Expire(int64_t now_ms);

  // Starts loading the memory a later Assign of `fp` reads, in two steps a caller runs some work
  // apart (a batch: the next alerts' parse): PrefetchHeads loads the four bucket heads,
  // PrefetchBuckets (after the heads arrived) the buckets' entries. Hints only: nothing changes.
  void PrefetchHeads(Fingerprint fp, Fingerprint lead = 0, Fingerprint sentence = 0,
                     Fingerprint sentence2 = 0) const;
  void PrefetchBuckets(Fingerprint fp, Fingerprint lead = 0, Fingerprint sentence = 0,
                       Fingerprint sentence2 = 0) const;
  // The same in three steps, for a caller with the work of three alerts to put between them:
  // PrefetchHeads, then PrefetchBucketStarts (the first line of each bucket, which holds its
  // size), then PrefetchBucketRest (reads the sizes: the bucket's other lines, as many as it
  // has, where PrefetchBuckets guesses from the mean with a margin of 1.5 and loads ~40%
  // more lines than there are).
  void PrefetchBucketStarts(Fingerprint fp, Fingerprint lead = 0, Fingerprint sentence = 0,
                            Fingerprint sentence2 = 0) const;
  void PrefetchBucketRest(Fingerprint fp, Fingerprint lead = 0, Fingerprint sentence = 0,
                          Fingerprint sentence2 = 0) const;

  // Returns the story with sequence number `seq`, or null when it left the window.
  const Story* Find(uint64_t seq) const;
  // The id of the story with sequence number `seq` (which must be in the window).
  std::string_view Id(uint64_t seq) const;
  // Distinct sources of a story: exact up to kExactSources, an estimate beyond.
  static uint32_t Sources(const Story& story);

  size_t size() const { return static_cast<size_t>(tail_seq_ - head_seq_); }
  // Bytes held by the index, the stories and their ids (capacity, not just what is used).
  size_t MemoryBytes() const;

  // The index's whole-window events, for a benchmark to count and time apart: packings of the
  // arenas (CompactArenas, every bucket moved) and their total time, and the 2 MiB arenas
  // taken from the system (each one's pages zeroed by the kernel on first touch).
  struct Events {
    uint64_t packings = 0;
    uint64_t packing_ns = 0;
    uint64_t arenas_allocated = 0;
  };
  const Events& events() const { return events_; }

 private:
  // A bucket is one block of 8-byte words: word 0 holds its size (low half) and capacity (high
  // half), words 1..cap the entries as two arrays of cap 32-bit words: the filters, then the
  // stories' sequence numbers' low 32 bits (a lookup reads the filters only, half the bucket's
  // lines; until 2026-12-06 an entry was one word, filter and sequence number). The tables' 7 x
  // 65536 heads (4 x 65536 for the fingerprint, 65536 for the lead key, 2 x 65536 for the sentence
  // keys) hold only the pointers (3.5 MiB; null: an empty bucket). Blocks come in size classes
  // (16-byte steps to 512 bytes, then x1.125) carved from 2 MiB huge-page arenas, with a free list
  // per class: a lookup's random reads then need no page walk (with 4 KiB pages from malloc each
  // bucket read was a TLB miss, and a prefetch that misses the TLB waits for the walk), and a
  // bucket's growth costs no malloc. Freed blocks are kept for reuse, and the arenas are packed
  // again (CompactArenas) when free blocks pass a tenth of them.
  static constexpr int kChunkBits = 12;  // 4096 stories (224 KiB) per chunk
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkBits;
  struct Chunk {
    std::unique_ptr<Story[]> stories;
    std::string ids;  // the ids of its stories, back to back
  };

  Chunk& ChunkOf(uint64_t seq) const;
  Story& At(uint64_t seq) const;
  // Drops the stale entries of bucket `slot` (and gives memory back when it is mostly empty).
  void Compact(size_t slot);
  void Append(size_t slot, uint32_t filter, uint32_t seq);
  void Resize(size_t slot, uint32_t new_cap);
  uint64_t* AllocBlock(uint32_t words);
  void FreeBlock(uint64_t* block, uint32_t words);
  void CompactArenas();
  // The id as stored: cut to kMaxIdBytes at a UTF-8 boundary.
  static std::string_view StoredForm(std::string_view id);
  static uint64_t IdHash(std::string_view id);
  uint64_t FullSeq(uint32_t low) const;
  // True when a bucket entry's story has left the window (its sequence number's low 32 bits,
  // `seq`, are before the window's first, mod 2^32).
  bool Stale(uint32_t seq) const {
    return seq - static_cast<uint32_t>(head_seq_) >= static_cast<uint32_t>(tail_seq_ - head_seq_);
  }

  int64_t window_ms_;
  int max_distance_;
  struct Free {
    void operator()(void* p) const;
  };
  // Joins `out` to the story at `seq` (or marks the item as that story's again).
  void Join(uint64_t seq, std::string_view item_id, uint64_t source_hash, int language_index,
            Assignment* out);
  // What a key's match must also meet: nothing more (the fingerprint), the lead's gate (the
  // story's fingerprint within LeadGate(tokens, story's tokens) of `fp`, or LeadJoins), or the
  // sentence key's (the nearest fingerprint within kSentenceGate, or SentenceContained).
  enum class Gate : uint8_t { kNone, kLead, kSentence };
  // The nearest open story in tables [first, first + count) whose filter is within `k` of the
  // key's, under `gate`: kNone, the story's fingerprint within `k` of the key (ranked by that
  // distance); kLead and kSentence, the key equal (bucket and filter) and the gate met, kLead's
  // stories all ranked alike, kSentence's by their fingerprint's distance to `fp`. Ties: the
  // oldest. Returns whether one was found.
  bool Nearest(Fingerprint key, int first, int count, int k, Fingerprint fp, Gate gate,
               uint32_t tokens, int64_t oldest_open, uint64_t* seq);

  std::unique_ptr<uint64_t*[], Free> heads_;  // 7 x 65536, aligned to 2 MiB
  size_t bucket_bytes_ = 0;                   // the arenas' and the large blocks' bytes
  std::vector<void*> arenas_;
  char* bump_ = nullptr;  // the free end of the newest arena
  size_t bump_left_ = 0;
  std::vector<uint64_t*> free_;  // free blocks per class, linked through their word 0
  size_t free_bytes_ = 0;
  size_t sweep_next_ = 0;  // the next bucket the sweep visits
  double sweep_due_ = 0;   // buckets the sweep owes
  mutable std::deque<Chunk> chunks_;
  Chunk spare_;  // the last chunk expired, reused for the next one (no 224 KiB allocation)
  uint64_t head_seq_ = 0, tail_seq_ = 0;  // live stories: [head, tail)
  Events events_;
};

}  // namespace steppewatch::stories
