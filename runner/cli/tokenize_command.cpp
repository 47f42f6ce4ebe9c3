// neurolens tokenize — GPT-2 BPE token ids: of one text file, printed on one line (--text); or of
// a whole corpus, written by every MPI rank into one token file with its sidecar (--corpus).
// Owns: the two modes, the parallel tokenization of a corpus (segments shared out round by round,
// token offsets from an all-gather of each round's counts, pwrite into one temporary file) and
// the atomic commit of the .bin and its sidecar (docs/corpus.md, "Token corpora").
//   neurolens tokenize --model DIR --text FILE              (DIR holds vocab.json, merges.txt)
//   neurolens tokenize --vocab vocab.json --merges merges.txt --text FILE
//   mpirun -n 8 neurolens tokenize --model DIR --corpus 'data/*.jsonl.zst' --out corpus.bin
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "io/atomic_output.hpp"
#include "io/corpus.hpp"
#include "io/error.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/parallel/mpi.hpp"

namespace neurolens::runner {
namespace po = boost::program_options;

namespace {

std::string read_text(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open the text file", "check the --text path");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path, "cannot read the text file", "check the --text path");
  return ss.str();
}

struct CorpusOptions {
  std::string spec;
  std::string format = "auto";
  std::string out;
  std::string dtype = "auto";
  uint64_t segment_bytes = io::kDefaultSegmentBytes;
  bool overwrite = false;
};

// A file written with pwrite at token offsets, by every rank.
class TokenSink {
 public:
  TokenSink(const std::filesystem::path& path, bool create) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);
    if (fd_ < 0) {
      throw Error(path.string(), std::string("cannot open for writing: ") + std::strerror(errno),
                  "check that the output directory is writable");
    }
  }
  TokenSink(const TokenSink&) = delete;
  TokenSink& operator=(const TokenSink&) = delete;
  ~TokenSink() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const std::string& bytes, uint64_t offset) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                                 static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        throw Error(
            path_.string(),
            "write failed at byte " + std::to_string(offset + done) + ": " + std::strerror(errno),
            "check the free space and quota of the output file system");
      }
      done += static_cast<size_t>(n);
    }
  }
  void close() {
    const bool synced = ::fsync(fd_) == 0 || errno == EINVAL || errno == EROFS;
    const int saved = errno;
    const bool closed = ::close(fd_) == 0;
    fd_ = -1;
    if (!synced || !closed) {
      throw Error(path_.string(), std::string("cannot flush the file: ") + std::strerror(saved),
                  "check the output file system");
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

std::string random_token() {
  std::random_device device;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%04x", device(), device() & 0xffffu);
  return buf;
}

// mpirun -n R neurolens tokenize --corpus SPEC --out FILE: rank r tokenizes segments r, r + R,
// ... one per round; after each round every rank learns every rank's token count (all-gather),
// so it knows where its tokens go, and pwrites them (with the end-of-text id after each
// document) into the temporary file beside FILE. Rank 0 then writes the sidecar and renames
// both. Byte-identical output for any rank count; memory per rank: one segment's tokens.
int tokenize_corpus(const std::function<model::Tokenizer()>& load_tokenizer,
                    const CorpusOptions& o) {
  MpiSession mpi(nullptr, nullptr);
  const Comm comm = mpi.world();
  std::unique_ptr<io::AtomicOutput> bin;
  std::unique_ptr<io::AtomicOutput> sidecar;
  struct CleanupGuard {
    ~CleanupGuard() { set_abort_cleanup(nullptr); }
  } cleanup_guard;
  try {
    std::unique_ptr<model::Tokenizer> loaded;
    std::unique_ptr<io::Corpus> corpus;
    int width = 2;
    int32_t eot = 0;
    collective_check(comm, [&] {
      loaded = std::make_unique<model::Tokenizer>(load_tokenizer());
      corpus = std::make_unique<io::Corpus>(
          io::Corpus::open(o.spec, io::parse_corpus_format(o.format), o.segment_bytes));
      if (corpus->pretokenized()) {
        throw Error(o.spec, "is already a token corpus", "give text, JSON Lines or Brown files");
      }
      const int64_t n_vocab = loaded->vocab_size();
      // The end-of-text token (<|endoftext|>, <|end_of_text|>, </s>, <eos>); none in the
      // vocabulary: the id after the last one.
      eot = loaded->eos_id().value_or(static_cast<int32_t>(n_vocab));
      const int64_t max_id = std::max<int64_t>(n_vocab - 1, eot);
      if (o.dtype == "uint32" || (o.dtype == "auto" && max_id > 65535)) {
        width = 4;
      } else if (o.dtype == "uint16" || o.dtype == "auto") {
        if (max_id > 65535) {
          throw Error(
              "--dtype uint16",
              "the vocabulary has ids up to " + std::to_string(max_id) + ", more than uint16 holds",
              "use --dtype uint32 or auto");
        }
      } else {
        throw Error("--dtype", "'" + o.dtype + "' is not auto, uint16 or uint32",
                    "use --dtype auto, uint16 or uint32");
      }
    });
    const model::Tokenizer& tokenizer = *loaded;
    std::string token = comm.root() ? random_token() : std::string();
    comm.broadcast(token);
    collective_check(comm, [&] {
      bin = std::make_unique<io::AtomicOutput>(o.out, o.overwrite, token, comm.root());
      sidecar =
          std::make_unique<io::AtomicOutput>(o.out + ".json", o.overwrite, token, comm.root());
    });
    set_abort_cleanup([&bin, &sidecar] {
      if (bin) bin->abandon();
      if (sidecar) sidecar->abandon();
    });
    // Rank 0 creates the temporary file, then the others open it.
    std::unique_ptr<TokenSink> sink;
    collective_check(comm, [&] {
      if (comm.root()) sink = std::make_unique<TokenSink>(bin->temp_path(), true);
    });
    collective_check(comm, [&] {
      if (!comm.root()) sink = std::make_unique<TokenSink>(bin->temp_path(), false);
    });

    const auto ranks = static_cast<size_t>(comm.size());
    const size_t n_segments = corpus->n_segments();
    const size_t rounds = (n_segments + ranks - 1) / ranks;
    int64_t base = 0;       // tokens written by earlier rounds
    int64_t documents = 0;  // this rank's
    std::string bytes;
    for (size_t round = 0; round < rounds; ++round) {
      const size_t s = round * ranks + static_cast<size_t>(comm.rank());
      bytes.clear();
      collective_check(comm, [&] {
        if (s >= n_segments) return;
        const auto put = [&](int64_t id) {
          for (int b = 0; b < width; ++b)
            bytes.push_back(static_cast<char>((id >> (8 * b)) & 0xFF));
        };
        corpus->read_segment(s, [&](io::Document& d) {
          std::vector<int32_t> ids;
          try {
            ids = tokenizer.encode(d.text);
          } catch (const Error& e) {
            throw Error(d.source, e.problem(), e.hint());
          }
          for (int32_t id : ids) put(id);
          put(eot);
          ++documents;
          return true;
        });
      });
      const std::vector<int64_t> counts =
          comm.allgatherv(std::vector<int64_t>{static_cast<int64_t>(bytes.size()) / width});
      int64_t offset = base;
      for (int r = 0; r < comm.rank(); ++r) offset += counts[static_cast<size_t>(r)];
      for (int64_t c : counts) base += c;
      collective_check(comm, [&] {
        if (!bytes.empty()) sink->write(bytes, static_cast<uint64_t>(offset) * width);
      });
    }
    collective_check(comm, [&] { sink->close(); });
    const int64_t total_documents = comm.allreduce_sum(documents);
    comm.barrier();  // every rank's tokens are in the file
    collective_check(comm, [&] {
      if (!comm.root()) return;
      nlohmann::ordered_json j;
      j["format"] = "neurolens-tokens";
      j["version"] = 1;
      j["dtype"] = width == 2 ? "uint16" : "uint32";
      j["eot"] = eot;
      j["tokenizer"] = tokenizer.describe();
      j["tokenizer_fingerprint"] = tokenizer.fingerprint();
      j["vocab_size"] = tokenizer.vocab_size();
      j["documents"] = total_documents;
      j["tokens"] = base;
      std::ofstream out(sidecar->temp_path(), std::ios::binary);
      out << j.dump(2) << "\n";
      out.close();
      if (!out) {
        throw Error(sidecar->temp_path().string(), "cannot write the sidecar",
                    "check the free space of the output file system");
      }
      sidecar->commit();  // first: a token file never appears without its sidecar
      bin->commit();
    });
    if (comm.root()) {
      std::printf("wrote %s: %lld documents, %lld tokens (%s, end-of-text %d), and %s.json\n",
                  o.out.c_str(), static_cast<long long>(total_documents),
                  static_cast<long long>(base), width == 2 ? "uint16" : "uint32", eot,
                  o.out.c_str());
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

}  // namespace

int run_tokenize(const Args& args) {
  po::options_description options(
      "neurolens tokenize: print the GPT-2 BPE token ids of a UTF-8 text file on one line, or\n"
      "tokenize a whole corpus into a token file (on any number of MPI ranks)\n"
      "usage: neurolens tokenize --model DIR --text FILE\n"
      "       neurolens tokenize --vocab vocab.json --merges merges.txt --text FILE\n"
      "       [mpirun -n R] neurolens tokenize --model DIR --corpus SPEC --out corpus.bin\n"
      "           [--dtype auto|uint16|uint32] [--corpus-format F] [--overwrite]\n"
      "options");
  CorpusOptions corpus;
  std::string model_dir;
  std::string vocab;
  std::string merges;
  std::string text_path;
  options.add_options()("help,h", "show this help")(
      "model", po::value(&model_dir)->value_name("DIR"),
      "checkpoint directory holding tokenizer.json, or vocab.json and merges.txt")(
      "vocab", po::value(&vocab)->value_name("FILE"), "vocab.json (instead of --model)")(
      "merges", po::value(&merges)->value_name("FILE"), "merges.txt (instead of --model)")(
      "text", po::value(&text_path)->value_name("FILE"),
      "UTF-8 text file to tokenize ('-': stdin)")(
      "corpus", po::value(&corpus.spec)->value_name("SPEC"),
      "corpus to tokenize: a file, a directory or a quoted glob (docs/corpus.md)")(
      "corpus-format", po::value(&corpus.format)->value_name("F"),
      "auto (default), text, jsonl or brown")(
      "out", po::value(&corpus.out)->value_name("FILE"),
      "token file to write (with --corpus); its sidecar is FILE.json")(
      "dtype", po::value(&corpus.dtype)->value_name("T"),
      "auto (default: uint16 when every id fits), uint16 or uint32")(
      "segment-bytes", po::value(&corpus.segment_bytes)->value_name("N"),
      "bytes of input per segment, the unit of work of a rank (default 1 MiB)")(
      "overwrite", po::bool_switch(&corpus.overwrite), "replace an existing --out file");
  po::variables_map vm;
  try {
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    po::store(po::command_line_parser(rest).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error("tokenize", program_options_error_text(e), "run 'neurolens tokenize --help'");
  }
  if (vm.count("help")) {
    std::cout
        << options << "\n"
        << "--text prints the ids of the whole file, space-separated, on one line. Text is\n"
           "GPT-2 encoded exactly like OpenAI's encoder; <|endoftext|> in the text is ordinary\n"
           "text. With --model DIR, DIR/tokenizer.json is used when present (HF tokenizers'\n"
           "ids without special tokens; added tokens in the text are split out as HF does).\n"
           "--corpus writes every document's ids followed by the end-of-text id, in corpus\n"
           "order, as little-endian uint16 / uint32 (nanoGPT's .bin layout), and the\n"
           "sidecar FILE.json (dtype, end-of-text id, tokenizer fingerprint, counts): a token\n"
           "corpus (docs/corpus.md). The output is the same on any number of ranks.\n";
    return 0;
  }
  const bool by_model = vm.count("model") > 0;
  const bool by_files = vm.count("vocab") > 0 || vm.count("merges") > 0;
  if (by_model == by_files || (by_files && (vocab.empty() || merges.empty()))) {
    throw Error("tokenize", "give either --model DIR or both --vocab FILE and --merges FILE",
                "run 'neurolens tokenize --help'");
  }
  const bool corpus_mode = vm.count("corpus") > 0;
  if (corpus_mode == (vm.count("text") > 0)) {
    throw Error("tokenize", "give either --text FILE or --corpus SPEC (with --out FILE)",
                "run 'neurolens tokenize --help'");
  }
  if (corpus_mode && corpus.out.empty()) {
    throw Error("tokenize", "--corpus needs --out FILE", "run 'neurolens tokenize --help'");
  }
  // --model DIR: DIR/tokenizer.json when present, else DIR/vocab.json + DIR/merges.txt.
  const auto load_tokenizer = [&] {
    return by_model ? model::Tokenizer::load_for_model(model_dir)
                    : model::Tokenizer::load(vocab, merges);
  };
  if (corpus_mode) return tokenize_corpus(load_tokenizer, corpus);
  const model::Tokenizer tokenizer = load_tokenizer();
  const std::string text = read_text(text_path);
  std::vector<int32_t> ids;
  try {
    ids = tokenizer.encode(text);
  } catch (const Error& e) {
    throw Error(text_path == "-" ? "stdin" : text_path, e.problem(), e.hint());
  }
  std::string out;
  out.reserve(ids.size() * 6 + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out.push_back(' ');
    out += std::to_string(ids[i]);
  }
  out.push_back('\n');
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    throw Error("tokenize", "cannot write the ids to stdout", "check the output pipe or disk");
  }
  return 0;
}

}  // namespace neurolens::runner
