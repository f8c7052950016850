// The local limit for the loader benchmark: T threads that only read each
// instance's Pixel Data bytes from the page cache (pread at the offsets of
// the index) and run the loader's own transform code (window + resize to
// 224x224 float32) into the same output as the loader's -- a [32, 1, 224,
// 224] batch buffer per thread (allocated and touched once, reused) -- with
// no queueing, sampling, decoding or network. Prints images/s as one line
// "limit_images_per_second <n>".
//
//   loader_bench_limit <folder> [threads=2] [passes=3]
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "loader/decode/image.h"
#include "loader/pipeline/catalog.h"
#include "loader/transform/transform.h"

using namespace medfs::loader;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <folder> [threads] [passes]\n", argv[0]);
    return 2;
  }
  std::string root = argv[1];
  int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  int passes = argc > 3 ? std::atoi(argv[3]) : 3;
  auto catalog = ScanLocalFolder(root);
  if (!catalog.ok() || catalog->records.empty()) {
    std::fprintf(stderr, "no DICOM files in %s\n", root.c_str());
    return 1;
  }
  const auto& records = catalog->records;
  std::atomic<size_t> next{0};
  const size_t total = records.size() * passes;
  auto worker = [&] {
    TransformOptions o;
    o.window = Window{40, 400};
    constexpr size_t kBatch = 32, kImage = 224 * 224;
    std::vector<float> batch(kBatch * kImage);  // touched here, reused
    size_t done = 0;
    DecodedImage img;
    Transformer t;
    for (size_t i; (i = next.fetch_add(1)) < total;) {
      const auto& r = records[i % records.size()];
      ImageInfo info = ImageInfoFromRecord(r);
      img.rows = r.rows();
      img.columns = r.columns();
      img.frames = 1;
      img.type = info.pixel_type();
      img.photometric = info.photometric;
      img.data.resize(r.pixel_data_length());
      int fd = ::open((root + "/" + r.path()).c_str(), O_RDONLY);
      ssize_t n = ::pread(fd, img.data.data(), r.pixel_data_length(), r.pixel_data_offset());
      ::close(fd);
      if (n != static_cast<ssize_t>(r.pixel_data_length()) || r.pixel_data_encapsulated()) {
        std::fprintf(stderr, "limit loop needs uncompressed files: %s\n", r.path().c_str());
        std::exit(1);
      }
      t.Apply(img, 0, info, o, batch.data() + (done++ % kBatch) * kImage);
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("limit_images_per_second %.1f\n", total / s);
  return 0;
}
