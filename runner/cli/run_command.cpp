// neurolens run JOB.ini [--key=value ...] [--dry-run] [--resume] [--overwrite]
// The distributed study runner: under mpirun / srun every rank parses the same job, loads the
// memory-mapped model, builds the same plan, runs its share of the windows, and the statistics
// are reduced by neuron slice into one results file written collectively and atomically.
#include <cblas.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "io/atomic_output.hpp"
#include "io/corpus.hpp"
#include "io/error.hpp"
#include "io/text.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/engine/resume_state.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/parallel/weight_broadcast.hpp"
#include "runner/results/sites.hpp"
#include "runner/results/writer.hpp"
#include "runner/studies/study.hpp"

namespace neurolens::runner {
namespace {

io::CorpusFormat to_io_format(CorpusFormat f) {
  switch (f) {
    case CorpusFormat::Text:
      return io::CorpusFormat::Text;
    case CorpusFormat::JsonLines:
      return io::CorpusFormat::JsonLines;
    case CorpusFormat::Brown:
      return io::CorpusFormat::Brown;
    case CorpusFormat::Auto:
      break;
  }
  return io::CorpusFormat::Auto;
}

// One OpenBLAS thread per rank unless OPENBLAS_NUM_THREADS says otherwise; warns (rank 0) when
// the ranks on a node times the threads exceed its cores.
void configure_threads(const Comm& comm) {
  int threads = 1;
  if (const char* env = std::getenv("OPENBLAS_NUM_THREADS")) threads = std::max(1, std::atoi(env));
  openblas_set_num_threads(threads);
  const int on_node = comm.ranks_on_node();
  const unsigned cores = std::thread::hardware_concurrency();
  if (comm.root() && cores > 0 && static_cast<unsigned>(on_node * threads) > cores) {
    std::fprintf(stderr,
                 "neurolens: warning: %d ranks x %d OpenBLAS threads on this node exceed its %u "
                 "cores; expect slowdowns (use one rank per core and OPENBLAS_NUM_THREADS=1)\n",
                 on_node, threads, cores);
  }
}

std::string random_token() {
  std::random_device device;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%04x", device(), device() & 0xffffu);
  return buf;
}

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MB", bytes / 1e6);
  return buf;
}

// A pre-tokenized corpus with a sidecar must come from the model's tokenizer (same vocabulary
// and merges); one without (a bare nanoGPT .bin) is only checked id by id against the vocabulary.
void require_matching_tokenizer(const io::Corpus& corpus, const model::Tokenizer& tokenizer,
                                const std::string& spec) {
  if (!corpus.pretokenized() || !corpus.token_info().has_sidecar) return;
  const io::TokenCorpusInfo& info = corpus.token_info();
  if (info.tokenizer_fingerprint == tokenizer.fingerprint()) return;
  throw Error(spec,
              "was tokenized with another tokenizer (fingerprint " + info.tokenizer_fingerprint +
                  ": " + info.tokenizer + ") than the model's (fingerprint " +
                  tokenizer.fingerprint() + ": " + tokenizer.describe() + ")",
              "re-tokenize it: neurolens tokenize --model MODEL_DIR --corpus SOURCE --out " + spec);
}

void print_plan(const RunContext& ctx, const Study& study, const PlanCounts& plan) {
  const Comm& comm = ctx.comm;
  const int B = ctx.job.batch_size;
  const int T = plan.window_length;
  double weights = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ctx.job.model)) {
    if (entry.path().extension() == ".safetensors")
      weights += static_cast<double>(entry.file_size());
  }
  const auto& c = ctx.model.config;
  const model::Precision precision = forward_precision(ctx.job);
  // compute = bf16: each rank packs the block weights as bf16 (private memory, 2 bytes each).
  const auto packed = static_cast<double>(model::ForwardPass::packed_bytes_for(c, precision));
  const double workspace =
      static_cast<double>(model::ForwardPass::private_bytes_for(c, B, T, precision)) - packed;
  double capture = 0;
  for (const SiteSpace& s : ctx.sites) capture += 4.0 * B * T * static_cast<double>(s.neurons());
  const double extra = study.extra_memory(ctx, plan);
  std::printf("plan for study '%s' (%s)\n", ctx.job.study.c_str(),
              ctx.job.file.empty() ? "command line" : ctx.job.file.string().c_str());
  std::printf("  model        %s (%s, %d layers, d_model %d, d_mlp %d)\n",
              ctx.job.model.string().c_str(), c.model_type.c_str(), c.n_layers, c.d_model, c.d_mlp);
  std::printf("  documents    %lld (%lld tokens read)\n", static_cast<long long>(plan.documents),
              static_cast<long long>(plan.corpus_tokens));
  std::printf("  windows      %lld of %d tokens (%lld tokens through the forward pass at most)\n",
              static_cast<long long>(plan.windows), T, static_cast<long long>(plan.windows) * T);
  std::printf("  samples      %lld", static_cast<long long>(plan.samples));
  for (int32_t label = 0; label < 3; ++label) {
    const int64_t n = plan.label_count(label);
    if (n > 0)
      std::printf("%sgroup %c: %lld", label == 0 ? " (" : ", ", 'a' + label,
                  static_cast<long long>(n));
  }
  std::printf("%s\n", plan.samples == 0 ? "" : ")");
  for (const SiteSpace& s : ctx.sites) {
    std::printf("  site         %s: %zu layers x %d = %lld neurons\n", s.site.c_str(),
                s.layers.size(), s.width, static_cast<long long>(s.neurons()));
  }
  std::printf(
      "  ranks        %d (%lld batches of up to %d windows; windows per rank: %lld to "
      "%lld)\n",
      comm.size(), static_cast<long long>(plan.batches), B,
      static_cast<long long>(plan.least_rank_windows),
      static_cast<long long>(plan.most_rank_windows));
  if (study.streamed() && ctx.corpus != nullptr) {
    const double segments = static_cast<double>(ctx.corpus->n_segments());
    const double rounds = std::ceil(segments / comm.size());
    std::printf(
        "  corpus       %s: %.0f MB in %.0f segments, streamed in %.0f rounds; this rank read "
        "%s (per rank: about %s, never the whole corpus)\n",
        std::string(io::to_string(ctx.corpus->format())).c_str(),
        static_cast<double>(ctx.corpus->total_bytes()) / 1e6, segments, rounds,
        megabytes(static_cast<double>(ctx.bytes_read)).c_str(),
        megabytes(static_cast<double>(ctx.corpus->total_bytes()) / comm.size()).c_str());
  }
  std::printf("  compute      %s; weights loaded by %s\n",
              ctx.job.compute == Compute::Bf16 ? "bf16 weight GEMMs (fp32 accumulation)" : "fp32",
              ctx.job.model_load == ModelLoad::Broadcast ? "rank 0, broadcast to one rank per node"
                                                         : "memory-mapping on every rank");
  std::printf(
      "  memory/rank  ~%s = weights %s (shared on a node when F32)%s%s + forward %s + "
      "captures %s + statistics %s\n",
      megabytes(weights + packed + workspace + capture + extra).c_str(), megabytes(weights).c_str(),
      packed > 0 ? " + bf16 copy " : "", packed > 0 ? megabytes(packed).c_str() : "",
      megabytes(workspace).c_str(), megabytes(capture).c_str(), megabytes(extra).c_str());
  for (const std::string& line : study.dry_run_lines(ctx, plan)) {
    std::printf("  %s\n", line.c_str());
  }
  std::printf("  output       %s\n", ctx.job.output.string().c_str());
}

}  // namespace

int run_run(const Args& args) {
  std::filesystem::path job_file;
  std::vector<std::string> overrides;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << job_keys_help();
      return 0;
    }
    if (args[i].rfind("--", 0) == 0 || !job_file.empty()) {
      overrides.push_back(args[i]);
    } else {
      job_file = args[i];
    }
  }

  MpiSession mpi(nullptr, nullptr);
  const Comm comm = mpi.world();
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<io::AtomicOutput> output;
  // Unregisters the abort cleanup (which refers to `output`) before `output` goes away.
  struct CleanupGuard {
    ~CleanupGuard() { set_abort_cleanup(nullptr); }
  } cleanup_guard;
  try {
    Job job;
    collective_check(comm, [&] {
      if (job_file.empty() && overrides.empty()) {
        throw Error("run", "no job file given", "usage: neurolens run JOB.ini [--key=value ...]");
      }
      job = parse_job(job_file, overrides);
    });
    configure_threads(comm);
    if (!job.dry_run) {
      std::string token = comm.root() ? random_token() : std::string();
      comm.broadcast(token);
      collective_check(comm, [&] {
        output = std::make_unique<io::AtomicOutput>(job.output, job.overwrite, token, comm.root());
      });
      // A local fault on rank 0 aborts the job: remove the temporary file first. (A fault on
      // another rank kills rank 0; the next run of the same output removes the leftover.)
      set_abort_cleanup([&output] {
        if (output) output->abandon();
      });
    }
    const auto t_load = std::chrono::steady_clock::now();
    std::unique_ptr<model::Model> model;
    std::unique_ptr<model::Tokenizer> tokenizer;
    std::unique_ptr<io::Corpus> corpus;
    std::vector<SiteSpace> sites;
    collective_check(comm, [&] {
      model = std::make_unique<model::Model>(
          job.model_load == ModelLoad::Broadcast
              ? model::load_model(job.model, broadcast_weight_reader(comm))
              : model::load_model(job.model));
      tokenizer = std::make_unique<model::Tokenizer>(model::Tokenizer::load_for_model(model->dir));
      sites = resolve_sites(job.sites, job.layers, model->config);
      require_precision_supported(forward_precision(job), "compute", "use compute = fp32");
      if (!job.corpus.empty()) {
        corpus = std::make_unique<io::Corpus>(
            io::Corpus::open(job.corpus, to_io_format(job.corpus_format)));
        // At least 4 segments per rank where the files allow it (splittable formats), so many
        // ranks share a corpus evenly; segments never go below 64 KiB.
        const uint64_t wanted = static_cast<uint64_t>(4 * comm.size());
        if (corpus->n_segments() < wanted) {
          const uint64_t bytes =
              std::max<uint64_t>(uint64_t{64} << 10, corpus->total_bytes() / wanted);
          if (bytes < io::kDefaultSegmentBytes) {
            corpus = std::make_unique<io::Corpus>(
                io::Corpus::open(job.corpus, to_io_format(job.corpus_format), bytes));
          }
        }
        if (corpus->n_segments() == 0) {
          throw Error("corpus", "'" + job.corpus + "' has no documents", "check the corpus path");
        }
        corpus->set_vocab_size(tokenizer->vocab_size());
        require_matching_tokenizer(*corpus, *tokenizer, job.corpus);
      }
    });
    RunContext ctx{job, comm, *model, *tokenizer, corpus.get(), sites, {}, 0};
    ctx.times.load = seconds_since(t_load);

    const auto t_plan = std::chrono::steady_clock::now();
    std::unique_ptr<Study> study;
    Plan plan;
    std::vector<std::string> warnings;
    collective_check(comm, [&] { study = study_spec(job.study).make(); });
    collective_check(comm, [&] { plan = study->make_plan(ctx); });
    PlanCounts counts;
    if (!study->streamed()) {
      plan.make_batches(job.batch_size);
      counts = count_plan(plan, comm.size());
      ctx.n_windows = counts.windows;
      ctx.n_samples = counts.samples;
      ctx.corpus_tokens = counts.corpus_tokens;
      ctx.documents = counts.documents;
      collective_check(comm, [&] { warnings = study->check_plan(ctx, counts); });
      if (const std::string w = plan.balance_warning(job.batch_size, comm.size()); !w.empty()) {
        warnings.push_back(w);
      }
    } else if (job.dry_run) {
      // What the stream would read and measure, without the forward pass.
      collective_check(comm, [&] {
        counts = count_stream(ctx, study->finder(ctx), study->limits(ctx), study->round_hook(ctx));
      });
      collective_check(comm, [&] { warnings = study->check_plan(ctx, counts); });
    }
    ctx.times.plan = seconds_since(t_plan);
    if (comm.root()) {
      for (const std::string& w : warnings)
        std::fprintf(stderr, "neurolens: warning: %s\n", w.c_str());
    }
    if (job.dry_run) {
      if (comm.root()) print_plan(ctx, *study, counts);
      return 0;
    }
    if (comm.root()) {
      if (study->streamed()) {
        std::fprintf(stderr,
                     "neurolens: %s study, streaming %zu corpus segments (%.1f MB) over %d "
                     "rank(s)\n",
                     job.study.c_str(), ctx.corpus->n_segments(),
                     static_cast<double>(ctx.corpus->total_bytes()) / 1e6, comm.size());
      } else {
        std::fprintf(stderr, "neurolens: %s study, %lld windows, %lld samples, %d rank(s)\n",
                     job.study.c_str(), static_cast<long long>(plan.windows.size()),
                     static_cast<long long>(plan.samples.size()), comm.size());
      }
    }

    install_stop_handlers();
    std::unique_ptr<ResultsWriter> writer;
    auto open_results = [&]() -> ResultsWriter& {
      if (!writer) writer = std::make_unique<ResultsWriter>(output->temp_path(), comm);
      return *writer;
    };
    const StudySummary summary = study->run(ctx, plan, open_results);
    ResultsWriter& out = open_results();

    // Run facts: root attributes and per-rank memory and time.
    const std::vector<double> rss = comm.allgatherv(std::vector<double>{peak_rss_bytes()});
    out.write_shared("/run/peak_rss_bytes", io::H5Type::F64, {rss.size()}, rss.data());
    const std::vector<double> read =
        comm.allgatherv(std::vector<double>{static_cast<double>(ctx.bytes_read)});
    out.write_shared("/run/bytes_read", io::H5Type::F64, {read.size()}, read.data());
    const double wall = seconds_since(start);
    out.set_attribute("/", "job", job.text);
    out.set_attribute("/", "job_file", job.file.string());
    out.set_attribute("/", "study", job.study);
    out.set_attribute("/", "test", test_attribute(job));
    out.set_attribute("/", "model", std::filesystem::absolute(job.model).string());
    out.set_attribute("/", "model_type", model->config.model_type);
    out.set_attribute("/", "tokenizer", tokenizer->describe());
    out.set_attribute("/", "adds_bos", static_cast<int64_t>(document_bos(*tokenizer) ? 1 : 0));
    out.set_attribute("/", "bos_token_id",
                      static_cast<int64_t>(document_bos(*tokenizer).value_or(-1)));
    out.set_attribute("/", "compute", std::string(job.compute == Compute::Bf16 ? "bf16" : "fp32"));
    out.set_attribute("/", "model_load",
                      std::string(job.model_load == ModelLoad::Broadcast ? "broadcast" : "mmap"));
    out.set_attribute("/", "n_ranks", static_cast<int64_t>(comm.size()));
    out.set_attribute("/", "tokens_processed", ctx.tokens_processed);
    out.set_attribute("/", "corpus_tokens", ctx.corpus_tokens);
    out.set_attribute("/", "n_windows", ctx.n_windows);
    out.set_attribute("/", "n_samples", ctx.n_samples);
    out.set_attribute("/", "wall_time", wall);
    out.set_attribute("/", "time_load", ctx.times.load);
    out.set_attribute("/", "time_plan", ctx.times.plan);
    out.set_attribute("/", "time_forward", ctx.times.forward);
    out.set_attribute("/", "time_reduce", ctx.times.reduce);
    out.set_attribute("/", "time_write", ctx.times.write);
    out.set_attribute("/", "version", std::string(NEUROLENS_VERSION));
    const std::time_t now = std::time(nullptr);
    char stamp[64];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    out.set_attribute("/", "created", std::string(stamp));
    const auto t_close = std::chrono::steady_clock::now();
    collective_check(comm, [&] { out.close(); });
    comm.barrier();
    collective_check(comm, [&] { output->commit(); });
    ctx.times.write += seconds_since(t_close);
    ResumeState(job, comm).remove();

    if (comm.root()) {
      for (const std::string& line : summary.lines) std::printf("%s\n", line.c_str());
      std::printf(
          "time: load %.2fs, plan %.2fs, forward %.2fs, reduce %.2fs, write %.2fs; "
          "%lld tokens, %.0f tokens/s\n",
          ctx.times.load, ctx.times.plan, ctx.times.forward, ctx.times.reduce, ctx.times.write,
          static_cast<long long>(ctx.tokens_processed),
          ctx.times.forward > 0
              ? ctx.tokens_processed / ctx.times.forward / comm.size() * comm.size()
              : 0.0);
      std::printf("peak RSS per rank:");
      for (size_t r = 0; r < rss.size(); ++r) std::printf(" %s", megabytes(rss[r]).c_str());
      std::printf("\nwrote %s\n", job.output.string().c_str());
    }
    return 0;
  } catch (const CollectiveFailure& failure) {
    if (comm.root()) std::fprintf(stderr, "neurolens: error: %s\n", failure.message.c_str());
    return 1;
  } catch (const Interrupted& stop) {
    if (comm.root()) {
      std::fprintf(stderr,
                   "neurolens: stopped after batch %lld: partial statistics saved; rerun the same "
                   "command with --resume to continue\n",
                   static_cast<long long>(stop.batches_done));
    }
    return 143;
  } catch (const Error& e) {
    abort_with(comm, e.what());
  } catch (const std::exception& e) {
    abort_with(comm, e.what());
  }
}

}  // namespace neurolens::runner
