#include "steppewatch/common/files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace steppewatch::files {

uint64_t Hash64(std::string_view data) {
  // Eight bytes per step: a byte-wise FNV-1a over a 15 MB database was ~10% of a cached start.
  // Multiply by the 64-bit golden ratio and fold the high half down, so every input bit reaches
  // every output bit within a few words; the length goes in first, so a truncation changes it.
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  uint64_t h = 0xcbf29ce484222325ULL ^ (data.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  if (i < data.size()) std::memcpy(&tail, data.data() + i, data.size() - i);
  h = (h ^ tail) * kMul;
  return h ^ (h >> 29);
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;  // x86-64's transparent huge page
}  // namespace

absl::StatusOr<FileImage> FileImage::Read(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 0) {
    close(fd);
    return absl::DataLossError(absl::StrCat(path, ": cannot stat"));
  }
  FileImage image;
  image.size_ = static_cast<size_t>(st.st_size);
  if (image.size_ >= kHugePage) {
    // A large image (a 100k-rule pack's cache is ~50 MB) in 2 MB pages: 4 KB pages cost ~12k
    // page faults for 50 MB, and on the benchmark VM a first touch of each page from user space
    // cost as much again (reading the image and its checksum: 160 ms in 4 KB pages, 25 ms in
    // huge ones). A length of whole huge pages: kernels since 6.7 then place the mapping on a
    // 2 MB boundary (older ones may not, and only its aligned inside gets huge pages). madvise
    // failing (THP off) only loses the speed. read() faults the pages in as it fills them.
    const size_t rounded = (image.size_ + kHugePage - 1) & ~(kHugePage - 1);
    void* map = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat(path, ": cannot map ", image.size_));
    }
    image.map_ = map;
    image.mapped_ = rounded;
    madvise(map, rounded, MADV_HUGEPAGE);
  } else if (image.size_ > 0) {
    void* map = mmap(nullptr, image.size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat(path, ": cannot map ", image.size_));
    }
    image.map_ = map;
    image.mapped_ = image.size_;
  }
  size_t got = 0;
  while (got < image.size_) {
    const ssize_t n = read(fd, static_cast<char*>(image.map_) + got, image.size_ - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got != image.size_) return absl::DataLossError(absl::StrCat(path, ": short read"));
  return image;
}

FileImage::FileImage(FileImage&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

FileImage::~FileImage() {
  if (map_ != nullptr) munmap(map_, mapped_);
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::initializer_list<std::string_view> parts) {
  std::random_device rd;
  const std::string tmp = absl::StrFormat("%s.tmp.%d.%08x", path, getpid(), rd());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  for (std::string_view part : parts) {
    size_t written = 0;
    while (written < part.size()) {
      const ssize_t n = write(fd, part.data() + written, part.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int e = errno;
        close(fd);
        unlink(tmp.c_str());
        return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(e)));
      }
      written += static_cast<size_t>(n);
    }
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("fsync/close ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(e)));
  }
  return absl::OkStatus();
}

}  // namespace steppewatch::files
