// Tests of the whole-file helpers the on-disk caches and the reload status file use: what the
// atomic write wrote reads back whole, a failed write leaves the old file, and the checksum
// sees truncation and single-bit changes.
#include "steppewatch/common/files.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::files {
namespace {

namespace fs = std::filesystem;
using ::steppewatch::testing::IsOk;
using ::steppewatch::testing::StatusIs;
using ::testing::_;
using ::testing::IsEmpty;

TEST(WriteFileAtomically, WritesTheConcatenatedPartsAndReplacesTheOldFile) {
  const fs::path dir = testing::MakeTempDir();
  const std::string path = (dir / "a.bin").string();
  ASSERT_THAT(WriteFileAtomically(path, {"old"}), IsOk());
  ASSERT_THAT(WriteFileAtomically(path, {"header|", "", "payload"}), IsOk());
  absl::StatusOr<FileImage> image = FileImage::Read(path);
  ASSERT_THAT(image, IsOk());
  EXPECT_EQ(image->data(), "header|payload");
  // No temp file is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(WriteFileAtomically, AFailedWriteLeavesTheOldFile) {
  const fs::path dir = testing::MakeTempDir();
  const std::string path = (dir / "a.bin").string();
  ASSERT_THAT(WriteFileAtomically(path, {"old"}), IsOk());
  // The rename onto a non-empty directory fails after the temp file was written.
  fs::create_directory(dir / "sub");
  std::ofstream(dir / "sub" / "x") << "x";
  EXPECT_THAT(WriteFileAtomically((dir / "sub").string(), {"new"}),
              StatusIs(absl::StatusCode::kInternal, _));
  EXPECT_THAT(WriteFileAtomically((dir / "missing" / "a.bin").string(), {"new"}),
              StatusIs(absl::StatusCode::kInternal, _));
  EXPECT_EQ(FileImage::Read(path)->data(), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
}

TEST(FileImage, ReadsAnEmptyFileAndReportsAMissingOne) {
  const fs::path dir = testing::MakeTempDir();
  std::ofstream(dir / "empty").close();
  absl::StatusOr<FileImage> empty = FileImage::Read((dir / "empty").string());
  ASSERT_THAT(empty, IsOk());
  EXPECT_THAT(empty->data(), IsEmpty());
  EXPECT_THAT(FileImage::Read((dir / "missing").string()),
              StatusIs(absl::StatusCode::kNotFound, _));
}

TEST(FileImage, ReadsLargeFilesWholeAndMovesThem) {
  // From 2 MB on, the image is read into a mapping of whole huge pages, past the file's end: the
  // bytes must be the file's, from the first to the last, in an image moved elsewhere too.
  const fs::path dir = testing::MakeTempDir();
  for (size_t size : {size_t{2} << 20, (size_t{5} << 20) + 12345}) {
    std::string content(size, '\0');
    for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>((i * 131) ^ (i >> 12));
    const std::string path = (dir / ("big" + std::to_string(size))).string();
    ASSERT_THAT(WriteFileAtomically(path, {content}), IsOk());
    absl::StatusOr<FileImage> image = FileImage::Read(path);
    ASSERT_THAT(image, IsOk());
    const FileImage moved(std::move(*image));
    ASSERT_EQ(moved.data().size(), size);
    EXPECT_TRUE(moved.data() == content) << size;
  }
}

TEST(Hash64, SeesTruncationAndBitFlips) {
  const std::string data = "steppewatch compiled pack payload, 43 bytes";
  const uint64_t h = Hash64(data);
  EXPECT_EQ(h, Hash64(std::string(data)));
  EXPECT_NE(h, Hash64(std::string_view(data).substr(0, data.size() - 1)));
  std::string flipped = data;
  flipped[17] ^= 0x01;
  EXPECT_NE(h, Hash64(flipped));
  EXPECT_NE(Hash64(""), Hash64(std::string(1, '\0')));
}

}  // namespace
}  // namespace steppewatch::files
