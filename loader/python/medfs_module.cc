// The `medfs` Python module: medfs.DataLoader over the C++ loader core,
// plus medfs.decode_file / medfs.read_index for tests and tools.
//
// Batches reach torch without a copy: each batch buffer is wrapped in a
// DLPack capsule whose deleter drops the loader's reference to the pooled
// buffer, and torch.utils.dlpack.from_dlpack turns it into a tensor.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "loader/decode/decoder.h"
#include "loader/decode/dicom_parser.h"
#include "loader/pipeline/open.h"
#include "loader/python/dlpack_abi.h"
#ifdef MEDFS_LOADER_HAVE_CUDA
#include "loader/cuda/cuda_stager.h"
#endif

namespace py = pybind11;

namespace medfs::loader {
namespace {

[[noreturn]] void Raise(const absl::Status& s) {
  if (absl::IsInvalidArgument(s) || absl::IsOutOfRange(s)) throw py::value_error(std::string(s.ToString()));
  if (absl::IsNotFound(s)) throw py::key_error(std::string(s.ToString()));
  throw std::runtime_error(std::string(s.ToString()));
}

template <typename T>
T Check(absl::StatusOr<T> v) {
  if (!v.ok()) Raise(v.status());
  return *std::move(v);
}
void Check(const absl::Status& s) {
  if (!s.ok()) Raise(s);
}

// Keeps a batch's memory alive for as long as torch uses the tensor.
struct TensorContext {
  std::shared_ptr<void> keep_alive;
  std::vector<int64_t> shape;
  dlpack::ManagedTensor managed;
};

py::object ToTorch(void* data, std::shared_ptr<void> keep_alive,
                   std::vector<int64_t> shape, OutputType dtype,
                   int32_t device_type, int32_t device_id) {
  auto* ctx = new TensorContext{std::move(keep_alive), std::move(shape), {}};
  dlpack::Tensor& t = ctx->managed.dl_tensor;
  t.data = data;
  t.device = {device_type, device_id};
  t.ndim = static_cast<int32_t>(ctx->shape.size());
  t.shape = ctx->shape.data();
  t.strides = nullptr;
  t.byte_offset = 0;
  switch (dtype) {
    case OutputType::kFloat32: t.dtype = {dlpack::kFloat, 32, 1}; break;
    case OutputType::kFloat16: t.dtype = {dlpack::kFloat, 16, 1}; break;
    case OutputType::kUint8: t.dtype = {dlpack::kUInt, 8, 1}; break;
  }
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](dlpack::ManagedTensor* self) {
    delete static_cast<TensorContext*>(self->manager_ctx);
  };
  PyObject* capsule = PyCapsule_New(&ctx->managed, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {  // never consumed
      auto* m = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      m->deleter(m);
    }
  });
  if (capsule == nullptr) {
    delete ctx;
    throw py::error_already_set();
  }
  py::object from_dlpack = py::module_::import("torch.utils.dlpack").attr("from_dlpack");
  return from_dlpack(py::reinterpret_steal<py::object>(capsule));
}

py::array DecodeFile(const std::string& path, std::optional<uint32_t> frame) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw py::value_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  auto span = std::as_bytes(std::span<const char>(bytes));
  ParsedDicom parsed = Check(ParseDicom(span, bytes.size(), path));
  const v1::DicomInstance& r = parsed.record;
  if (r.pixel_data_length() == 0) throw py::value_error(path + ": no pixel data");
  ImageInfo info = ImageInfoFromRecord(r);
  info.planar_configuration = parsed.planar_configuration;
  Decoder decoder;
  DecodedImage image;
  auto pixels = span.subspan(r.pixel_data_offset(),
                             std::min<uint64_t>(r.pixel_data_length(), bytes.size() - r.pixel_data_offset()));
  {
    py::gil_scoped_release release;
    Check(decoder.Decode(info, pixels, frame, &image));
  }
  std::vector<py::ssize_t> shape = {image.frames, image.rows, image.columns};
  if (image.samples_per_pixel > 1) shape.push_back(image.samples_per_pixel);
  py::dtype dtype;
  switch (image.type) {
    case PixelType::kU8: dtype = py::dtype::of<uint8_t>(); break;
    case PixelType::kI8: dtype = py::dtype::of<int8_t>(); break;
    case PixelType::kU16: dtype = py::dtype::of<uint16_t>(); break;
    case PixelType::kI16: dtype = py::dtype::of<int16_t>(); break;
    case PixelType::kU32: dtype = py::dtype::of<uint32_t>(); break;
    case PixelType::kI32: dtype = py::dtype::of<int32_t>(); break;
  }
  py::array out(dtype, shape);
  std::memcpy(out.mutable_data(), image.data.data(), image.data.size());
  return out;
}

py::dict ReadIndex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw py::value_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  ParsedDicom p = Check(ParseDicom(std::as_bytes(std::span<const char>(bytes)), bytes.size(), path));
  const v1::DicomInstance& r = p.record;
  py::dict d;
  d["SOPInstanceUID"] = r.sop_instance_uid();
  d["SeriesInstanceUID"] = r.series_instance_uid();
  d["StudyInstanceUID"] = r.study_instance_uid();
  d["PatientID"] = r.patient_id();
  d["Modality"] = r.modality();
  d["TransferSyntaxUID"] = r.transfer_syntax_uid();
  d["Rows"] = r.rows();
  d["Columns"] = r.columns();
  d["NumberOfFrames"] = r.number_of_frames();
  d["BitsAllocated"] = r.bits_allocated();
  d["PhotometricInterpretation"] = r.photometric_interpretation();
  d["pixel_data_offset"] = r.pixel_data_offset();
  d["pixel_data_length"] = r.pixel_data_length();
  d["pixel_data_encapsulated"] = r.pixel_data_encapsulated();
  d["PlanarConfiguration"] = p.planar_configuration;
  return d;
}

std::optional<uint32_t> EnvInt(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
}

}  // namespace
}  // namespace medfs::loader

namespace medfs::loader {
namespace {

OutputType ParseDtype(const std::string& name) {
  if (name == "float32" || name == "float") return OutputType::kFloat32;
  if (name == "float16" || name == "half") return OutputType::kFloat16;
  if (name == "uint8") return OutputType::kUint8;
  throw py::value_error("dtype must be float32, float16 or uint8, not " + name);
}

OnError ParseOnError(const std::string& name) {
  if (name == "skip") return OnError::kSkip;
  if (name == "zero") return OnError::kZero;
  if (name == "fail") return OnError::kFail;
  throw py::value_error("on_error must be skip, zero or fail, not " + name);
}

std::array<float, 3> Triple(const std::optional<std::vector<float>>& v, float fill) {
  std::array<float, 3> out = {fill, fill, fill};
  if (!v) return out;
  if (v->size() != 1 && v->size() != 3) throw py::value_error("mean/std need 1 or 3 values");
  for (size_t i = 0; i < 3; ++i) out[i] = (*v)[v->size() == 1 ? 0 : i];
  return out;
}

class PyDataLoader {
 public:
  PyDataLoader(std::optional<std::string> meta_or_none, std::string dataset, std::string query,
               uint32_t batch_size, std::pair<uint32_t, uint32_t> size,
               std::optional<std::pair<double, double>> window, std::string sample,
               uint32_t depth, std::optional<uint32_t> rank,
               std::optional<uint32_t> world_size, uint64_t seed, uint32_t prefetch,
               std::string device, uint32_t channels, std::string dtype,
               std::optional<std::vector<float>> mean,
               std::optional<std::vector<float>> std, bool shuffle, bool drop_last,
               std::string labels, std::string split,
               std::pair<double, double> split_fractions, uint32_t threads,
               std::string on_error, std::string manifest,
               std::optional<std::string> provider) {
    OpenOptions o;
    if (provider) {
      o.fabric_provider = *provider;
    } else if (const char* env = std::getenv("MEDFS_FABRIC_PROVIDER"); env && *env) {
      o.fabric_provider = env;
    }
    o.meta = meta_or_none.value_or("local");
    o.dataset = std::move(dataset);
    o.query = std::move(query);
    o.manifest = std::move(manifest);
    Check(ParseSplit(split, &o.split.split));
    o.split.train_fraction = split_fractions.first;
    o.split.val_fraction = split_fractions.second;
    LoaderOptions& l = o.loader;
    l.batch_size = batch_size;
    l.transform.height = size.first;
    l.transform.width = size.second;
    if (window) l.transform.window = Window{window->first, window->second};
    l.sample = Check(ParseSampleKind(sample));
    l.depth = depth;
    l.sampler.rank = rank ? *rank : EnvInt("RANK").value_or(0);
    l.sampler.world_size = world_size ? *world_size : EnvInt("WORLD_SIZE").value_or(1);
    l.sampler.seed = seed;
    l.sampler.shuffle = shuffle;
    l.sampler.drop_last = drop_last;
    l.prefetch = prefetch;
    l.transform.channels = channels;
    l.transform.dtype = ParseDtype(dtype);
    l.transform.mean = Triple(mean, 0.f);
    l.transform.std = Triple(std, 1.f);
    l.threads = threads;
    l.on_error = ParseOnError(on_error);
    l.labels_csv = std::move(labels);
    device_id_ = static_cast<int>(EnvInt("LOCAL_RANK").value_or(0));
    if (device.rfind("cuda", 0) == 0) {
      if (device.size() > 5) device_id_ = std::stoi(device.substr(5));
      cuda_ = true;
      Check(CheckCudaAvailable());
      // Slices: the CPU stops after decode; the device transforms.
      if (l.sample == SampleKind::kSlice) l.output = StageOutput::kRawFrames;
    } else if (device != "cpu") {
      throw py::value_error("device must be 'cpu' or 'cuda[:n]', not " + device);
    }
    py::gil_scoped_release release;
    loader_ = Check(OpenLoader(o));
  }

  PyDataLoader* Iter() {
    if (exhausted_) {
      py::gil_scoped_release release;
      loader_->SetEpoch(loader_->State().epoch);
      exhausted_ = false;
    }
    return this;
  }

  py::tuple Next() {
#ifdef MEDFS_LOADER_HAVE_CUDA
    if (cuda_) return NextCuda();
#endif
    absl::StatusOr<std::optional<Batch>> next;
    {
      py::gil_scoped_release release;
      next = loader_->Next();
    }
    if (!next.ok()) Raise(next.status());
    if (!next->has_value()) {
      exhausted_ = true;
      throw py::stop_iteration();
    }
    Batch& b = **next;
    return py::make_tuple(Images(b), Info(b));
  }

  py::dict Info(const Batch& b) {
    py::dict info;
    info["uids"] = b.uids;
    info["indices"] = b.sample_indices;
    info["batch"] = b.index;
    info["errors"] = b.errors;
    if (!b.labels.empty()) {
      py::object torch = py::module_::import("torch");
      info["labels"] = torch.attr("tensor")(b.labels, py::arg("dtype") = torch.attr("float32"));
    } else {
      info["labels"] = py::none();
    }
    return info;
  }

#ifdef MEDFS_LOADER_HAVE_CUDA
  py::tuple NextCuda() {
    absl::StatusOr<InFlight> current = absl::UnknownError("");
    {
      py::gil_scoped_release release;
      if (!in_flight_) {
        auto first = NextOnDevice();
        if (!first.ok()) Raise(first.status());
        in_flight_ = std::move(*first);
      }
      if (in_flight_) {
        current = std::move(*in_flight_);
        in_flight_.reset();
        auto following = NextOnDevice();  // overlaps with training on current
        if (!following.ok()) Raise(following.status());
        in_flight_ = std::move(*following);
        Check(stager_->Wait(current->upload));
      }
    }
    if (!current.ok()) {
      exhausted_ = true;
      throw py::stop_iteration();
    }
    Batch& b = current->batch;
    py::object images = ToTorch(current->upload.device, current->upload.keep_alive, b.shape,
                                b.dtype, dlpack::kCUDA, device_id_);
    return py::make_tuple(images, Info(b));
  }
#endif

  size_t Len() const {
    uint64_t n = loader_->rank_samples(), bs = loader_->options().batch_size;
    return (n + bs - 1) / bs;
  }

  void SetEpoch(uint64_t epoch) {
    py::gil_scoped_release release;
#ifdef MEDFS_LOADER_HAVE_CUDA
    in_flight_.reset();
#endif
    loader_->SetEpoch(epoch);
    exhausted_ = false;
  }

  py::dict StateDict() const {
    SamplerState s = loader_->State();
#ifdef MEDFS_LOADER_HAVE_CUDA
    if (in_flight_) s = in_flight_->state_before;  // not handed out yet
#endif
    py::dict d;
    d["seed"] = s.seed;
    d["epoch"] = s.epoch;
    d["cursor"] = s.cursor;
    d["num_samples"] = s.num_samples;
    return d;
  }

  void LoadStateDict(const py::dict& d) {
    SamplerState s;
    s.seed = d["seed"].cast<uint64_t>();
    s.epoch = d["epoch"].cast<uint64_t>();
    s.cursor = d["cursor"].cast<uint64_t>();
    s.num_samples = d["num_samples"].cast<uint64_t>();
    py::gil_scoped_release release;
#ifdef MEDFS_LOADER_HAVE_CUDA
    in_flight_.reset();
#endif
    Check(loader_->Restore(s));
    exhausted_ = false;
  }

  py::dict Stats() const {
    LoaderStats s = loader_->Stats();
    py::dict d;
    d["samples"] = s.samples;
    d["batches"] = s.batches;
    d["bytes_read"] = s.bytes_read;
    d["failures"] = s.failures;
    d["missing_labels"] = s.missing_labels;
    d["elapsed_seconds"] = s.elapsed_seconds;
    d["consumer_wait_seconds"] = s.consumer_wait_seconds;
    d["samples_per_second"] = s.samples_per_second;
    d["bytes_per_second"] = s.bytes_per_second;
    d["memory_bytes"] = s.memory_bytes;
    d["num_samples"] = loader_->num_samples();
    d["skipped_files"] = loader_->catalog().skipped_files;
    return d;
  }

 private:
  py::object Images(Batch& b);
  static absl::Status CheckCudaAvailable();

  std::unique_ptr<Loader> loader_;
  bool exhausted_ = false;
  bool cuda_ = false;
  int device_id_ = 0;
#ifdef MEDFS_LOADER_HAVE_CUDA
  // Double buffering: the batch after the one handed out is already being
  // copied to the device while the caller trains on the current one.
  struct InFlight {
    Batch batch;
    CudaStager::PendingUpload upload;
    SamplerState state_before;  // what state_dict reports while in flight
  };
  absl::StatusOr<std::optional<InFlight>> NextOnDevice();
  std::unique_ptr<CudaStager> stager_;
  std::optional<InFlight> in_flight_;
#endif
};

}  // namespace
}  // namespace medfs::loader

namespace medfs::loader {
namespace {

absl::Status PyDataLoader::CheckCudaAvailable() {
#ifdef MEDFS_LOADER_HAVE_CUDA
  return CudaAvailable();
#else
  return absl::FailedPreconditionError(
      "device='cuda': this medfs module was built without CUDA (MEDFS_WITH_CUDA=OFF)");
#endif
}

#ifdef MEDFS_LOADER_HAVE_CUDA
absl::StatusOr<std::optional<PyDataLoader::InFlight>> PyDataLoader::NextOnDevice() {
  SamplerState before = loader_->State();
  ASSIGN_OR_RETURN(std::optional<Batch> next, loader_->Next());
  if (!next) return std::optional<InFlight>();
  if (next->raw_bytes > 0) {  // raw frames: copy + transform on the stream
    const TransformOptions& t = loader_->options().transform;
    if (!stager_) {
      ASSIGN_OR_RETURN(stager_, CudaStager::Create(device_id_,
                                                   t.image_bytes() * loader_->options().batch_size));
    }
    ASSIGN_OR_RETURN(CudaStager::PendingUpload upload,
                     stager_->StartRaw(next->images->bytes.data(), next->raw_bytes, next->size, t));
    return std::optional<InFlight>(InFlight{*std::move(next), std::move(upload), before});
  }
  const size_t capacity = next->images->bytes.size();
  if (!stager_) {
    ASSIGN_OR_RETURN(stager_, CudaStager::Create(device_id_, capacity));
  }
  size_t bytes = capacity / loader_->options().batch_size * next->size;
  ASSIGN_OR_RETURN(CudaStager::PendingUpload upload,
                   stager_->Start(next->images->bytes.data(), bytes));
  return std::optional<InFlight>(InFlight{*std::move(next), std::move(upload), before});
}
#endif

py::object PyDataLoader::Images(Batch& b) {
  std::shared_ptr<BatchMemory> memory = b.images;
  if (!cuda_) {
    void* data = memory->bytes.data();
    return ToTorch(data, std::move(memory), b.shape, b.dtype, dlpack::kCPU, 0);
  }
#ifdef MEDFS_LOADER_HAVE_CUDA
  size_t bytes = b.size * (memory->bytes.size() / loader_->options().batch_size);
  if (!stager_) stager_ = Check(CudaStager::Create(device_id_, memory->bytes.size()));
  void* device_ptr = nullptr;
  std::shared_ptr<void> keep;
  {
    py::gil_scoped_release release;
    keep = Check(stager_->Upload(memory->bytes.data(), bytes, &device_ptr));
  }
  return ToTorch(device_ptr, std::move(keep), b.shape, b.dtype, dlpack::kCUDA, device_id_);
#else
  Raise(CheckCudaAvailable());
#endif
}

}  // namespace
}  // namespace medfs::loader

PYBIND11_MODULE(medfs, m) {
  using medfs::loader::PyDataLoader;
  m.doc() = "medfs: DICOM training data straight from a medfs cluster (or a local folder).";
  m.def("decode_file", &medfs::loader::DecodeFile, py::arg("path"),
        py::arg("frame") = py::none(),
        "Decodes a DICOM file's pixels: array [frames, rows, columns(, samples)].");
  m.def("read_index", &medfs::loader::ReadIndex, py::arg("path"),
        "The index record the loader builds for a DICOM file.");
  m.def("have_cluster_support", &medfs::loader::HaveClusterSupport);
  m.def("have_cuda_support", [] {
#ifdef MEDFS_LOADER_HAVE_CUDA
    return true;
#else
    return false;
#endif
  });
  py::class_<PyDataLoader>(m, "DataLoader", R"doc(
Batches of decoded, transformed DICOM pixels as torch tensors.

DataLoader(meta, dataset, query='', batch_size=32, size=(224, 224),
           window=None, sample='slice', depth=32, rank=None, world_size=None,
           seed=0, prefetch=4, device='cpu', channels=1, dtype='float32',
           mean=None, std=None, shuffle=True, drop_last=False, labels='',
           split='all', split_fractions=(0.8, 0.1), threads=0, on_error='skip',
           manifest='', provider=None)

meta: medfs-meta address 'host:port', or None/'local' for a local folder.
dataset: dataset name in the cluster, or the local folder.
manifest: 'NAME' (latest version) or 'NAME@3': the instances frozen by
`medfs manifest freeze` instead of running a query (cluster only; not
together with query). split and the sampler work on its members.
Iterating yields (images, info): images [B, C, H, W] (slice) or
[B, C, D, H, W] (series); info has 'uids', 'labels', 'indices', 'errors'.
rank/world_size default to $RANK/$WORLD_SIZE; the CUDA device to
$LOCAL_RANK.
provider: libfabric provider of the loader's endpoint: 'tcp;ofi_rxm'
(default) or 'efa' (AWS); None reads $MEDFS_FABRIC_PROVIDER, then the
default. It must be the one the chunkservers serve ('shm' is not safe for
chunkservers with libfabric 1.17: common/fabric/README.md).)doc")
      .def(py::init<std::optional<std::string>, std::string, std::string, uint32_t,
                    std::pair<uint32_t, uint32_t>,
                    std::optional<std::pair<double, double>>, std::string, uint32_t,
                    std::optional<uint32_t>, std::optional<uint32_t>, uint64_t,
                    uint32_t, std::string, uint32_t, std::string,
                    std::optional<std::vector<float>>, std::optional<std::vector<float>>,
                    bool, bool, std::string, std::string, std::pair<double, double>,
                    uint32_t, std::string, std::string, std::optional<std::string>>(),
           py::arg("meta") = "local", py::arg("dataset") = "", py::arg("query") = "",
           py::arg("batch_size") = 32, py::arg("size") = std::make_pair(224u, 224u),
           py::arg("window") = py::none(), py::arg("sample") = "slice",
           py::arg("depth") = 32, py::arg("rank") = py::none(),
           py::arg("world_size") = py::none(), py::arg("seed") = 0,
           py::arg("prefetch") = 4, py::arg("device") = "cpu", py::arg("channels") = 1,
           py::arg("dtype") = "float32", py::arg("mean") = py::none(),
           py::arg("std") = py::none(), py::arg("shuffle") = true,
           py::arg("drop_last") = false, py::arg("labels") = "",
           py::arg("split") = "all", py::arg("split_fractions") = std::make_pair(0.8, 0.1),
           py::arg("threads") = 0, py::arg("on_error") = "skip", py::arg("manifest") = "",
           py::arg("provider") = py::none())
      .def("__iter__", &PyDataLoader::Iter, py::return_value_policy::reference)
      .def("__next__", &PyDataLoader::Next)
      .def("__len__", &PyDataLoader::Len)
      .def("set_epoch", &PyDataLoader::SetEpoch, py::arg("epoch"))
      .def("state_dict", &PyDataLoader::StateDict)
      .def("load_state_dict", &PyDataLoader::LoadStateDict, py::arg("state"))
      .def("stats", &PyDataLoader::Stats);
}
