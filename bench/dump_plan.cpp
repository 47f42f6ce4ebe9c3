// dump_plan — writes the windows and samples of a job's plan, exactly as `neurolens run` builds
// them (same parse_job, same Study::make_plan, same batching), so that bench/studies_torch.py
// and bench/contrast_stop_bench.sh feed PyTorch / `neurolens capture` the identical windows.
// Not a benchmark; a helper of the benchmarks (built by bench/CMakeLists.txt).
//   build/bench/dump_plan jobs/demo/contrast.ini OUTDIR [--key=value ...]
// Writes OUTDIR/windows.bin (int32 [W, T], row-major), OUTDIR/windows.txt (the same, one window
// per line: a `neurolens capture --token-file`), OUTDIR/samples.tsv (window position label
// pair_id token word) and OUTDIR/plan.json (W, T, S, batch_size, documents, corpus_tokens).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "io/corpus.hpp"
#include "io/error.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/engine/engine.hpp"
#include "runner/engine/plan.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/results/sites.hpp"
#include "runner/studies/study.hpp"

namespace nr = neurolens::runner;
namespace nio = neurolens::io;

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: dump_plan JOB.ini OUTDIR [--key=value ...]\n");
    return 2;
  }
  const std::filesystem::path out = argv[2];
  std::vector<std::string> overrides;
  for (int i = 3; i < argc; ++i) overrides.push_back(argv[i]);
  nr::MpiSession mpi(nullptr, nullptr);
  const nr::Comm comm = mpi.world();
  const nr::Job job = nr::parse_job(argv[1], overrides);
  const neurolens::model::Model model = neurolens::model::load_model(job.model);
  const auto tokenizer = neurolens::model::Tokenizer::load_for_model(model.dir);
  std::vector<nr::SiteSpace> sites = nr::resolve_sites(job.sites, job.layers, model.config);
  std::unique_ptr<nio::Corpus> corpus;
  if (!job.corpus.empty()) {
    nio::CorpusFormat f = nio::CorpusFormat::Auto;
    if (job.corpus_format == nr::CorpusFormat::Text) f = nio::CorpusFormat::Text;
    if (job.corpus_format == nr::CorpusFormat::JsonLines) f = nio::CorpusFormat::JsonLines;
    if (job.corpus_format == nr::CorpusFormat::Brown) f = nio::CorpusFormat::Brown;
    corpus = std::make_unique<nio::Corpus>(nio::Corpus::open(job.corpus, f));
  }
  nr::RunContext ctx{job, comm, model, tokenizer, corpus.get(), sites, {}, 0};
  std::unique_ptr<nr::Study> study = nr::study_spec(job.study).make();
  nr::Plan plan = study->make_plan(ctx);
  if (study->streamed()) {
    // A streamed study's windows, gathered into one global plan (fine for a benchmark's corpus).
    const nr::StreamLimits limits = study->limits(ctx);
    plan = nr::build_plan(*corpus, tokenizer, study->finder(ctx), comm, limits.max_windows,
                          limits.max_tokens);
  }
  plan.make_batches(job.batch_size);
  study->check_plan(ctx, nr::count_plan(plan, comm.size()));
  std::filesystem::create_directories(out);
  const int64_t W = static_cast<int64_t>(plan.windows.size());
  const int T = plan.window_length;
  std::vector<int32_t> tokens;
  std::ofstream bin(out / "windows.bin", std::ios::binary);
  std::ofstream txt(out / "windows.txt");
  for (int64_t w0 = 0; w0 < W; w0 += 256) {
    const int64_t w1 = std::min<int64_t>(W, w0 + 256);
    nr::fetch_window_tokens(plan, w0, w1, tokens);
    bin.write(reinterpret_cast<const char*>(tokens.data()),
              static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
    for (int64_t i = 0; i < w1 - w0; ++i) {
      for (int t = 0; t < T; ++t) txt << (t ? " " : "") << tokens[static_cast<size_t>(i * T + t)];
      txt << "\n";
    }
  }
  std::ofstream tsv(out / "samples.tsv");
  tsv << "window\tposition\tlabel\tpair_id\ttoken\tword\n";
  for (const nr::Sample& s : plan.samples) {
    tsv << s.window << "\t" << s.position << "\t" << s.label << "\t" << s.pair_id << "\t" << s.token
        << "\t" << s.word << "\n";
  }
  std::ofstream js(out / "plan.json");
  js << "{\"windows\": " << W << ", \"window_length\": " << T
     << ", \"samples\": " << plan.samples.size() << ", \"batch_size\": " << job.batch_size
     << ", \"documents\": " << plan.documents << ", \"corpus_tokens\": " << plan.corpus_tokens
     << ", \"n_batches\": " << plan.n_batches() << "}\n";
  std::printf("%s: %lld windows of %d tokens, %zu samples -> %s\n", argv[1],
              static_cast<long long>(W), T, plan.samples.size(), out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "dump_plan: %s\n", e.what());
  return 1;
}
