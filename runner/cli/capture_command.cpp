// neurolens capture — runs the forward pass over a text, a token file or a corpus and writes the
// requested hook points to HDF5, one dataset per hook point named exactly as the hook
// (e.g. "blocks.3.mlp.hook_pre"), shaped [n_sequences, seq_len (or the --positions), width], in
// f32, f16 or bf16. Under mpirun / srun the sequences are sharded over the ranks and every rank
// writes its own rows with collective hyperslab writes into one file; rows follow input order, so
// the file is the same (bitwise) on any rank count.
//   neurolens capture --model DIR --text FILE --hooks 'blocks.*.mlp.hook_pre' --out acts.h5
//   neurolens capture --model DIR --token-file ids.txt --hooks hidden_states.2 --out acts.h5
//   mpirun -n 8 neurolens capture --model DIR --corpus 'pile/*.jsonl.zst' --seq-len 256
//       --sequences 100000 --dtype f16 --hooks 'blocks.*.mlp.hook_post' --out acts.h5
// Input: --text and --token-file are read by every rank (small inputs; rank r takes a balanced
// block of the sequences); --corpus is streamed with CorpusStream (round i: rank r reads segment
// i * R + r, cuts each document into consecutive seq_len chunks, tails dropped, and learns the
// global index of its chunks from two small all-gathers). Memory per rank: one round's chunks
// and one batch of activations. Datasets are chunked along the sequence axis and grow round by
// round (H5Dset_extent), so the number of sequences need not be known up front.
#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/atomic_output.hpp"
#include "io/corpus.hpp"
#include "io/error.hpp"
#include "io/hdf5.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/ops/half.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/cli/text_input.hpp"
#include "runner/engine/corpus_stream.hpp"
#include "runner/engine/engine.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/parallel/sharding.hpp"
#include "runner/studies/sampling_chunks.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

namespace {

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t b = item.find_first_not_of(" \t");
    const size_t e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::vector<int> parse_positions(const std::string& list) {
  std::vector<int> out;
  for (const std::string& item : split_list(list)) {
    size_t used = 0;
    int value = -1;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 0) {
      throw Error("--positions", "'" + item + "' is not a non-negative integer",
                  "give comma-separated positions such as 0,5,90");
    }
    out.push_back(value);
  }
  return out;
}

std::string random_token() {
  std::random_device device;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%04x", device(), device() & 0xffffu);
  return buf;
}

// This rank's sequences of one round: rows [first, first + n) of the output.
struct CaptureRows {
  std::vector<int32_t> tokens;    // [n, T]
  std::vector<int64_t> document;  // [n] the document (corpus order) or line each row comes from
  std::vector<int64_t> start;     // [n] the row's first token's offset in that document
  int64_t first = 0;
  int64_t n = 0;
};

// Rows of about this many bytes per HDF5 chunk (at least one row, or a slice of one).
constexpr hsize_t kChunkBytes = hsize_t{1} << 20;

std::vector<hsize_t> chunk_shape(const std::vector<hsize_t>& row_dims, hsize_t element_bytes) {
  hsize_t row_bytes = element_bytes;
  for (hsize_t d : row_dims) row_bytes *= d;
  std::vector<hsize_t> chunk{std::max<hsize_t>(1, kChunkBytes / std::max<hsize_t>(1, row_bytes))};
  chunk.insert(chunk.end(), row_dims.begin(), row_dims.end());
  if (row_bytes > kChunkBytes && row_dims.size() >= 2) {
    // One row is more than a chunk: cut it along its first axis (positions).
    const hsize_t inner = row_bytes / row_dims[0];
    chunk[1] = std::clamp<hsize_t>(kChunkBytes / std::max<hsize_t>(1, inner), 1, row_dims[0]);
  }
  return chunk;
}

enum class DiskType { F32, F16, BF16 };

// The output file: every method is collective (all ranks call it, in the same order).
class CaptureWriter {
 public:
  CaptureWriter(const std::filesystem::path& path, const Comm& comm, const model::Model& model,
                const std::vector<model::HookPoint>& points, const std::vector<int>& positions,
                int seq_len, int batch, DiskType disk, model::Precision precision)
      : comm_(comm),
        points_(points),
        positions_(positions),
        seq_len_(seq_len),
        n_pos_(positions.empty() ? seq_len : static_cast<int>(positions.size())),
        batch_(batch),
        disk_(disk),
        file_(io::H5File::create(path, comm.raw())),
        forward_(model, batch, seq_len, precision) {
    const io::H5Type type = disk == DiskType::F16    ? io::H5Type::F16
                            : disk == DiskType::BF16 ? io::H5Type::BF16
                                                     : io::H5Type::F32;
    const hsize_t element_bytes = disk == DiskType::F32 ? 4 : 2;
    for (const auto& point : points) {
      const int width = model::hook_width(point, model.config);
      const std::vector<hsize_t> row{static_cast<hsize_t>(n_pos_), static_cast<hsize_t>(width)};
      std::vector<hsize_t> dims{0};
      dims.insert(dims.end(), row.begin(), row.end());
      hooks_.push_back(file_.create_chunked_dataset("/" + model::hook_name(point), type, dims,
                                                    chunk_shape(row, element_bytes)));
      hooks_.back().label_dimension(0, "sequence");
      hooks_.back().label_dimension(1, "position");
      hooks_.back().label_dimension(2, "neuron");
      hooks_.back().set_attribute("dtype", std::string(disk == DiskType::F16    ? "f16"
                                                       : disk == DiskType::BF16 ? "bf16"
                                                                                : "f32"));
      buffers_.emplace_back(static_cast<size_t>(batch) * n_pos_ * width);
    }
    if (disk != DiskType::F32) {
      size_t most = 0;
      for (const auto& b : buffers_) most = std::max(most, b.size());
      half_.resize(most);
    }
    const std::vector<hsize_t> token_row{static_cast<hsize_t>(seq_len)};
    tokens_ = file_.create_chunked_dataset("/tokens", io::H5Type::I32, {0, token_row[0]},
                                           chunk_shape(token_row, 4));
    tokens_.label_dimension(0, "sequence");
    tokens_.label_dimension(1, "position");
    document_ = file_.create_chunked_dataset("/sequence_document", io::H5Type::I64, {0},
                                             chunk_shape({}, 8));
    document_.label_dimension(0, "sequence");
    start_ =
        file_.create_chunked_dataset("/sequence_start", io::H5Type::I64, {0}, chunk_shape({}, 8));
    start_.label_dimension(0, "sequence");
    if (!positions.empty()) {
      io::H5Dataset pos = file_.create_dataset("/positions", io::H5Type::I32,
                                               {static_cast<hsize_t>(positions.size())});
      const std::vector<hsize_t> zero{0}, count{comm.root() ? positions.size() : 0};
      pos.write_block(zero, count, positions.data());
    }
  }

  io::H5File& file() { return file_; }
  int64_t rows() const { return rows_; }
  double forward_seconds() const { return forward_seconds_; }

  // Grows every dataset to `total` rows and writes this rank's `rows`; every rank calls it with
  // the same total (the rows of all ranks' rounds so far).
  void write_round(const CaptureRows& rows, int64_t total) {
    if (total != rows_) {
      for (io::H5Dataset& d : hooks_) d.set_rows(static_cast<hsize_t>(total));
      tokens_.set_rows(static_cast<hsize_t>(total));
      document_.set_rows(static_cast<hsize_t>(total));
      start_.set_rows(static_cast<hsize_t>(total));
      rows_ = total;
    }
    const hsize_t first = rows.n > 0 ? static_cast<hsize_t>(rows.first) : 0;
    const auto n = static_cast<hsize_t>(rows.n);
    {
      const hsize_t offset[] = {first, 0}, count[] = {n, static_cast<hsize_t>(seq_len_)};
      tokens_.write_block(offset, count, rows.tokens.data());
      document_.write_block(std::span(offset, 1), std::span(count, 1), rows.document.data());
      start_.write_block(std::span(offset, 1), std::span(count, 1), rows.start.data());
    }
    // Collective writes: every rank makes as many as the busiest rank (empty ones when done).
    const int64_t my_batches = (rows.n + batch_ - 1) / batch_;
    const int64_t batches = comm_.allreduce_max(my_batches);
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t begin = b * batch_;
      const int count = static_cast<int>(std::clamp<int64_t>(rows.n - begin, 0, batch_));
      if (count > 0) {
        std::vector<model::CaptureRequest> requests;
        for (size_t h = 0; h < points_.size(); ++h) {
          requests.push_back({points_[h], buffers_[h].data()});
        }
        const std::span<const int32_t> ids(
            rows.tokens.data() + static_cast<size_t>(begin) * seq_len_,
            static_cast<size_t>(count) * seq_len_);
        const auto t0 = std::chrono::steady_clock::now();
        forward_.run(ids, count, seq_len_, requests, positions_);
        forward_seconds_ +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      for (size_t h = 0; h < hooks_.size(); ++h) {
        const hsize_t width = hooks_[h].dims()[2];
        const hsize_t offset[] = {count > 0 ? first + static_cast<hsize_t>(begin) : 0, 0, 0};
        const hsize_t counts[] = {static_cast<hsize_t>(count), static_cast<hsize_t>(n_pos_), width};
        const void* data = buffers_[h].data();
        if (disk_ != DiskType::F32 && count > 0) {
          const size_t elements = static_cast<size_t>(count) * n_pos_ * width;
          const float* src = buffers_[h].data();
          for (size_t i = 0; i < elements; ++i) {
            half_[i] =
                disk_ == DiskType::F16 ? model::f32_to_f16(src[i]) : model::f32_to_bf16(src[i]);
          }
          data = half_.data();
        }
        hooks_[h].write_block(offset, counts, data);
      }
    }
  }

  // Flushes and closes the file (collective); throws when HDF5 reports a failure.
  void close() {
    hooks_.clear();
    tokens_ = io::H5Dataset();
    document_ = io::H5Dataset();
    start_ = io::H5Dataset();
    file_.close();
  }

 private:
  const Comm& comm_;
  std::vector<model::HookPoint> points_;
  std::vector<int> positions_;
  int seq_len_ = 0;
  int n_pos_ = 0;
  int batch_ = 1;
  DiskType disk_ = DiskType::F32;
  io::H5File file_;
  std::vector<io::H5Dataset> hooks_;
  io::H5Dataset tokens_, document_, start_;
  std::vector<std::vector<float>> buffers_;  // one batch of activations per hook point
  std::vector<uint16_t> half_;               // one batch converted to f16 / bf16
  model::ForwardPass forward_;
  int64_t rows_ = 0;
  double forward_seconds_ = 0;
};

struct CaptureOptions {
  std::string model_dir, text_path, token_path, corpus_spec, corpus_format = "auto";
  std::string hooks_list, out_path, positions_list, compute = "fp32", dtype = "f32";
  int batch_size = 8;
  int seq_len = 0;
  int64_t sequences = 0;
  int64_t segment_bytes = static_cast<int64_t>(io::kDefaultSegmentBytes);
  bool overwrite = false;
  bool help = false;
};

CaptureOptions parse_capture_options(const Args& args, po::options_description& options) {
  CaptureOptions o;
  options.add_options()("help,h", "show this help")(
      "model", po::value(&o.model_dir)->value_name("DIR"), "Hugging Face checkpoint directory")(
      "text", po::value(&o.text_path)->value_name("FILE"),
      "UTF-8 text: tokenized, then cut into sequences of --seq-len tokens")(
      "token-file", po::value(&o.token_path)->value_name("FILE"),
      "one sequence per line, space-separated ids, all lines the same length")(
      "corpus", po::value(&o.corpus_spec)->value_name("SPEC"),
      "a corpus (file, directory or glob: text, JSON Lines, Brown, .jsonl.gz/.zst, token "
      ".bin/.npy; docs/corpus.md): each document cut into consecutive --seq-len chunks, tails "
      "dropped")("corpus-format", po::value(&o.corpus_format)->value_name("FORMAT"),
                 "auto | text | jsonl | brown | tokens (default: auto)")(
      "segment-bytes", po::value(&o.segment_bytes)->value_name("BYTES"),
      "--corpus: input bytes per segment, the unit a rank reads (default 1 MiB; smaller spreads "
      "a small corpus over more ranks)")(
      "hooks", po::value(&o.hooks_list)->value_name("LIST"),
      "comma-separated hook points, '*' for every layer (blocks.*.mlp.hook_pre, hidden_states.*)")(
      "positions", po::value(&o.positions_list)->value_name("LIST"),
      "capture only these positions of every sequence (default: all)")(
      "seq-len", po::value(&o.seq_len)->value_name("T"),
      "tokens per sequence; --text: default the whole text as one sequence; --corpus: default "
      "the model's n_positions")(
      "sequences", po::value(&o.sequences)->value_name("N"),
      "capture only the first N sequences in input order (default: all)")(
      "batch-size", po::value(&o.batch_size)->value_name("B")->default_value(8),
      "sequences per forward pass (per rank)")(
      "dtype", po::value(&o.dtype)->value_name("f32|f16|bf16")->default_value("f32"),
      "on-disk type of the activations (f16: IEEE half, h5py reads float16; bf16: h5py reads "
      "float32); rounded to nearest even")("out", po::value(&o.out_path)->value_name("OUT.h5"),
                                           "results file (written atomically)")(
      "compute", po::value(&o.compute)->value_name("fp32|bf16")->default_value("fp32"),
      "weight GEMMs in fp32, or in bf16 on CPUs with AVX512_BF16")(
      "overwrite", "replace an existing output file");
  po::variables_map vm;
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    po::store(po::command_line_parser(rest).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error("capture", program_options_error_text(e), "run 'neurolens capture --help'");
  }
  o.help = vm.count("help") > 0;
  if (o.help) return o;
  for (const char* required : {"model", "hooks", "out"}) {
    if (!vm.count(required)) {
      throw Error("capture", std::string("--") + required + " is required",
                  "run 'neurolens capture --help'");
    }
  }
  if (vm.count("text") + vm.count("token-file") + vm.count("corpus") != 1) {
    throw Error("capture", "give exactly one of --text FILE, --token-file FILE and --corpus SPEC",
                "run 'neurolens capture --help'");
  }
  for (const char* corpus_only : {"corpus-format", "segment-bytes"}) {
    if (vm.count(corpus_only) && !vm.count("corpus")) {
      throw Error(std::string("--") + corpus_only, "applies to --corpus only",
                  std::string("drop --") + corpus_only);
    }
  }
  if (o.segment_bytes < 1) {
    throw Error("--segment-bytes", "must be at least 1", "e.g. --segment-bytes 1048576");
  }
  if (o.batch_size < 1) throw Error("--batch-size", "must be at least 1", "e.g. --batch-size 8");
  if (vm.count("seq-len") && o.seq_len < 1) {
    throw Error("--seq-len", "must be at least 1", "e.g. --seq-len 128");
  }
  if (vm.count("token-file") && vm.count("seq-len")) {
    throw Error("--seq-len", "a token file's lines are its sequences",
                "drop --seq-len with --token-file");
  }
  if (vm.count("sequences") && o.sequences < 1) {
    throw Error("--sequences", "must be at least 1", "e.g. --sequences 1000, or drop it for all");
  }
  if (o.compute != "fp32" && o.compute != "bf16") {
    throw Error("--compute", "'" + o.compute + "' is not allowed", "allowed values: fp32 | bf16");
  }
  if (o.dtype != "f32" && o.dtype != "f16" && o.dtype != "bf16") {
    throw Error("--dtype", "'" + o.dtype + "' is not allowed", "allowed values: f32 | f16 | bf16");
  }
  o.overwrite = vm.count("overwrite") > 0;
  return o;
}

// --text / --token-file: every rank reads the whole input, keeps the first --sequences and takes
// its balanced block of them.
CaptureRows rows_from_sequences(const TokenSequences& seqs, int64_t total, const Comm& comm,
                                bool text) {
  const Block mine = block_range(total, comm.rank(), comm.size());
  CaptureRows rows;
  rows.first = mine.begin;
  rows.n = mine.size();
  const auto T = static_cast<size_t>(seqs.seq_len);
  rows.tokens.assign(seqs.ids.begin() + static_cast<std::ptrdiff_t>(mine.begin * T),
                     seqs.ids.begin() + static_cast<std::ptrdiff_t>(mine.end * T));
  for (int64_t i = mine.begin; i < mine.end; ++i) {
    rows.document.push_back(text ? 0 : i);
    rows.start.push_back(text ? i * seqs.seq_len : 0);
  }
  return rows;
}

io::CorpusFormat corpus_format(const std::string& name) {
  try {
    return io::parse_corpus_format(name);
  } catch (const Error& e) {
    throw Error("--corpus-format", e.problem(),
                "allowed values: auto | text | jsonl | brown | tokens");
  }
}

}  // namespace

int run_capture(const Args& args) {
  po::options_description options(
      "neurolens capture: run the forward pass and write hook-point activations to HDF5\n"
      "usage: [mpirun -n R] neurolens capture --model DIR (--text FILE | --token-file FILE | "
      "--corpus SPEC) --hooks LIST --out OUT.h5\noptions");
  MpiSession mpi(nullptr, nullptr);
  const Comm comm = mpi.world();
  std::unique_ptr<io::AtomicOutput> output;
  struct CleanupGuard {
    ~CleanupGuard() { set_abort_cleanup(nullptr); }
  } cleanup_guard;
  try {
    CaptureOptions o;
    collective_check(comm, [&] { o = parse_capture_options(args, options); });
    if (o.help) {
      if (comm.root()) std::cout << options << "\n";
      return 0;
    }
    const model::Precision precision =
        o.compute == "bf16" ? model::Precision::Bf16 : model::Precision::Fp32;
    std::string token = comm.root() ? random_token() : std::string();
    comm.broadcast(token);

    // Everything that can be checked before compute is checked first.
    std::unique_ptr<model::Model> model;
    std::vector<model::HookPoint> points;
    std::vector<int> positions;
    collective_check(comm, [&] {
      require_precision_supported(precision, "--compute", "use --compute fp32");
      output = std::make_unique<io::AtomicOutput>(o.out_path, o.overwrite, token, comm.root());
    });
    set_abort_cleanup([&output] {
      if (output) output->abandon();
    });
    collective_check(comm, [&] {
      model = std::make_unique<model::Model>(model::load_model(o.model_dir));
      const std::vector<std::string> patterns = split_list(o.hooks_list);
      if (patterns.empty()) {
        throw Error("--hooks", "no hook points given", "e.g. blocks.*.mlp.hook_pre");
      }
      points = model::resolve_hook_patterns(patterns, model->config);
      positions = parse_positions(o.positions_list);
    });
    const model::ModelConfig& config = model->config;

    // The input: a text or token file (every rank holds it), or a corpus (streamed).
    TokenSequences seqs;
    std::unique_ptr<model::Tokenizer> tokenizer;
    std::unique_ptr<io::Corpus> corpus;
    int seq_len = o.seq_len;
    std::string source;
    collective_check(comm, [&] {
      if (!o.token_path.empty()) {
        source = o.token_path;
        seqs = read_token_file(o.token_path);
      } else {
        tokenizer =
            std::make_unique<model::Tokenizer>(model::Tokenizer::load_for_model(model->dir));
      }
      if (!o.text_path.empty()) {
        source = o.text_path;
        seqs = sequences_from_text(read_text_file(o.text_path), *tokenizer, o.seq_len, source);
      }
      if (!o.corpus_spec.empty()) {
        source = o.corpus_spec;
        if (seq_len == 0) seq_len = config.n_positions;
        check_seq_len(seq_len, config, "--seq-len");
        corpus = std::make_unique<io::Corpus>(io::Corpus::open(
            o.corpus_spec, corpus_format(o.corpus_format), static_cast<uint64_t>(o.segment_bytes)));
        if (corpus->n_segments() == 0) {
          throw Error(o.corpus_spec, "the corpus has no documents", "check the corpus path");
        }
        corpus->set_vocab_size(std::min<int64_t>(tokenizer->vocab_size(), config.n_vocab));
      } else {
        check_sequences(seqs, config, source);
        seq_len = seqs.seq_len;
      }
      for (int p : positions) {
        if (p >= seq_len) {
          throw Error("--positions",
                      "position " + std::to_string(p) + " is outside the " +
                          std::to_string(seq_len) + "-token sequences",
                      "give positions below the sequence length");
        }
      }
    });
    if (comm.root() && seqs.dropped_tokens > 0) {
      std::fprintf(stderr,
                   "neurolens: note: %s: the last %lld tokens do not fill a sequence of %d and are "
                   "skipped\n",
                   source.c_str(), static_cast<long long>(seqs.dropped_tokens), seqs.seq_len);
    }
    int batch = o.batch_size;
    if (!corpus) {
      int64_t total = seqs.n_sequences;
      if (o.sequences > 0) total = std::min(total, o.sequences);
      batch = static_cast<int>(
          std::min<int64_t>(batch, std::max<int64_t>(1, (total + comm.size() - 1) / comm.size())));
    } else if (o.sequences > 0) {
      batch = static_cast<int>(std::min<int64_t>(batch, o.sequences));
    }
    const DiskType disk = o.dtype == "f16"    ? DiskType::F16
                          : o.dtype == "bf16" ? DiskType::BF16
                                              : DiskType::F32;

    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<CaptureWriter> writer;
    collective_check(comm, [&] {
      writer = std::make_unique<CaptureWriter>(output->temp_path(), comm, *model, points, positions,
                                               seq_len, batch, disk, precision);
    });
    int64_t documents = 0;
    if (!corpus) {
      int64_t total = seqs.n_sequences;
      if (o.sequences > 0) total = std::min(total, o.sequences);
      const CaptureRows rows = rows_from_sequences(seqs, total, comm, !o.text_path.empty());
      seqs = TokenSequences{};
      writer->write_round(rows, total);
      documents = o.text_path.empty() ? total : 1;
    } else {
      CorpusStream stream(*corpus, *tokenizer, chunk_finder(seq_len, /*with_samples=*/false), comm,
                          {.max_windows = o.sequences, .max_tokens = 0});
      Plan round;
      while (stream.next(round)) {
        CaptureRows rows;
        rows.first = round.first_window;
        rows.n = static_cast<int64_t>(round.windows.size());
        for (const WindowSpec& w : round.windows) {
          rows.tokens.insert(rows.tokens.end(), w.tokens.begin(), w.tokens.end());
          rows.document.push_back(w.document);
          rows.start.push_back(w.start);
        }
        round = Plan{};
        writer->write_round(rows, stream.totals().windows);
      }
      documents = stream.totals().documents;
      if (stream.totals().windows == 0) {
        collective_check(comm, [&] {
          throw Error(o.corpus_spec,
                      "no document has " + std::to_string(seq_len) + " tokens to fill a sequence",
                      "lower --seq-len");
        });
      }
    }
    const int64_t n_sequences = writer->rows();
    const double forward = comm.allreduce_max(writer->forward_seconds());
    io::H5File& file = writer->file();
    file.set_attribute("/", "model", o.model_dir);
    file.set_attribute("/", "model_type", config.model_type);
    file.set_attribute("/", "compute", o.compute);
    file.set_attribute("/", "dtype", o.dtype);
    file.set_attribute("/", "hooks", o.hooks_list);
    file.set_attribute("/", "input", source);
    file.set_attribute("/", "input_kind",
                       std::string(corpus                 ? "corpus"
                                   : !o.text_path.empty() ? "text"
                                                          : "token-file"));
    file.set_attribute("/", "n_sequences", n_sequences);
    file.set_attribute("/", "n_documents", documents);
    file.set_attribute("/", "seq_len", static_cast<int64_t>(seq_len));
    file.set_attribute("/", "n_ranks", static_cast<int64_t>(comm.size()));
    file.set_attribute("/", "version", std::string(NEUROLENS_VERSION));
    collective_check(comm, [&] { writer->close(); });
    comm.barrier();
    collective_check(comm, [&] { output->commit(); });
    if (comm.root()) {
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr,
                   "neurolens: wrote %zu hook points x %lld sequences x %d positions (%s) to %s "
                   "in %.2fs (forward %.2fs, %d rank(s))\n",
                   points.size(), static_cast<long long>(n_sequences),
                   positions.empty() ? seq_len : static_cast<int>(positions.size()),
                   o.dtype.c_str(), o.out_path.c_str(), wall, forward, comm.size());
    }
    return 0;
  } catch (const CollectiveFailure& failure) {
    if (comm.root()) std::fprintf(stderr, "neurolens: error: %s\n", failure.message.c_str());
    return 1;
  } catch (const Error& e) {
    abort_with(comm, e.what());
  } catch (const std::exception& e) {
    abort_with(comm, e.what());
  }
}

}  // namespace neurolens::runner
