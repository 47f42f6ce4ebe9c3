// neurolens capture — runs the forward pass over a text or a token file and writes the requested
// hook points to HDF5, one float32 dataset per hook point named exactly as the hook
// (e.g. "blocks.3.mlp.hook_pre"), shaped [n_sequences, seq_len (or n_positions), width].
//   neurolens capture --model DIR --text FILE --hooks 'blocks.*.mlp.hook_pre' --out acts.h5
//   neurolens capture --model DIR --token-file ids.txt --hooks hidden_states.2 --out acts.h5
#include <boost/program_options.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "io/atomic_output.hpp"
#include "io/error.hpp"
#include "io/hdf5.hpp"
#include "model/arch/forward.hpp"
#include "model/arch/hooks.hpp"
#include "model/load/checkpoint.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"
#include "runner/cli/text_input.hpp"
#include "runner/engine/engine.hpp"

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

}  // namespace

int run_capture(const Args& args) {
  po::options_description options(
      "neurolens capture: run the forward pass and write hook-point activations to HDF5\n"
      "usage: neurolens capture --model DIR (--text FILE | --token-file FILE) --hooks LIST "
      "--out OUT.h5\noptions");
  std::string model_dir, text_path, token_path, hooks_list, out_path, positions_list;
  std::string compute = "fp32";
  int batch_size = 8;
  int seq_len = 0;
  options.add_options()("help,h", "show this help")(
      "model", po::value(&model_dir)->value_name("DIR"), "Hugging Face checkpoint directory")(
      "text", po::value(&text_path)->value_name("FILE"),
      "UTF-8 text: tokenized, then cut into sequences of --seq-len tokens")(
      "token-file", po::value(&token_path)->value_name("FILE"),
      "one sequence per line, space-separated ids, all lines the same length")(
      "hooks", po::value(&hooks_list)->value_name("LIST"),
      "comma-separated hook points, '*' for every layer (blocks.*.mlp.hook_pre, hidden_states.*)")(
      "positions", po::value(&positions_list)->value_name("LIST"),
      "capture only these positions of every sequence (default: all)")(
      "seq-len", po::value(&seq_len)->value_name("T"),
      "with --text: tokens per sequence (default: the whole text as one sequence)")(
      "batch-size", po::value(&batch_size)->value_name("B")->default_value(8),
      "sequences per forward pass")("out", po::value(&out_path)->value_name("OUT.h5"),
                                    "results file (written atomically)")(
      "compute", po::value(&compute)->value_name("fp32|bf16")->default_value("fp32"),
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
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  for (const char* required : {"model", "hooks", "out"}) {
    if (!vm.count(required)) {
      throw Error("capture", std::string("--") + required + " is required",
                  "run 'neurolens capture --help'");
    }
  }
  if (vm.count("text") == vm.count("token-file")) {
    throw Error("capture", "give exactly one of --text FILE and --token-file FILE",
                "run 'neurolens capture --help'");
  }
  if (batch_size < 1) throw Error("--batch-size", "must be at least 1", "e.g. --batch-size 8");
  if (compute != "fp32" && compute != "bf16") {
    throw Error("--compute", "'" + compute + "' is not allowed", "allowed values: fp32 | bf16");
  }
  const model::Precision precision =
      compute == "bf16" ? model::Precision::Bf16 : model::Precision::Fp32;
  require_precision_supported(precision, "--compute", "use --compute fp32");

  // Everything that can be checked before compute is checked first.
  io::AtomicOutput output(out_path, vm.count("overwrite") > 0);
  const model::Model model = model::load_model(model_dir);
  const std::vector<std::string> patterns = split_list(hooks_list);
  if (patterns.empty())
    throw Error("--hooks", "no hook points given", "e.g. blocks.*.mlp.hook_pre");
  const std::vector<model::HookPoint> points = model::resolve_hook_patterns(patterns, model.config);

  TokenSequences seqs;
  if (vm.count("text")) {
    const model::Tokenizer tokenizer = model::Tokenizer::load(model.vocab_json, model.merges_txt);
    seqs = sequences_from_text(read_text_file(text_path), tokenizer, seq_len, text_path);
    if (seqs.dropped_tokens > 0) {
      std::fprintf(stderr,
                   "neurolens: note: %s: the last %lld tokens do not fill a sequence of %d and are "
                   "skipped\n",
                   text_path.c_str(), static_cast<long long>(seqs.dropped_tokens), seqs.seq_len);
    }
  } else {
    seqs = read_token_file(token_path);
  }
  check_sequences(seqs, model.config, vm.count("text") ? text_path : token_path);
  const std::vector<int> positions = parse_positions(positions_list);
  for (int p : positions) {
    if (p >= seqs.seq_len) {
      throw Error("--positions",
                  "position " + std::to_string(p) + " is outside the " +
                      std::to_string(seqs.seq_len) + "-token sequences",
                  "give positions below the sequence length");
    }
  }
  const int n_pos = positions.empty() ? seqs.seq_len : static_cast<int>(positions.size());
  const int B = std::min(batch_size, seqs.n_sequences);

  {
    io::H5File file = io::H5File::create(output.temp_path());
    std::vector<io::H5Dataset> datasets;
    std::vector<std::vector<float>> buffers;
    for (const auto& point : points) {
      const int width = model::hook_width(point, model.config);
      datasets.push_back(
          file.create_dataset("/" + model::hook_name(point), io::H5Type::F32,
                              {static_cast<hsize_t>(seqs.n_sequences), static_cast<hsize_t>(n_pos),
                               static_cast<hsize_t>(width)}));
      datasets.back().label_dimension(0, "sequence");
      datasets.back().label_dimension(1, "position");
      datasets.back().label_dimension(2, "neuron");
      buffers.emplace_back(static_cast<size_t>(B) * n_pos * width);
    }
    {
      io::H5Dataset tokens = file.create_dataset(
          "/tokens", io::H5Type::I32,
          {static_cast<hsize_t>(seqs.n_sequences), static_cast<hsize_t>(seqs.seq_len)});
      tokens.write_all(seqs.ids.data());
    }
    if (!positions.empty()) {
      io::H5Dataset pos = file.create_dataset("/positions", io::H5Type::I32,
                                              {static_cast<hsize_t>(positions.size())});
      pos.write_all(positions.data());
    }
    model::ForwardPass forward(model, B, seqs.seq_len, precision);
    for (int start = 0; start < seqs.n_sequences; start += B) {
      const int count = std::min(B, seqs.n_sequences - start);
      std::vector<model::CaptureRequest> requests;
      for (size_t h = 0; h < points.size(); ++h) requests.push_back({points[h], buffers[h].data()});
      const std::span<const int32_t> batch_ids(
          seqs.ids.data() + static_cast<size_t>(start) * seqs.seq_len,
          static_cast<size_t>(count) * seqs.seq_len);
      forward.run(batch_ids, count, seqs.seq_len, requests, positions);
      for (size_t h = 0; h < points.size(); ++h) {
        const hsize_t width = datasets[h].dims()[2];
        const hsize_t offset[] = {static_cast<hsize_t>(start), 0, 0};
        const hsize_t counts[] = {static_cast<hsize_t>(count), static_cast<hsize_t>(n_pos), width};
        datasets[h].write_block(offset, counts, buffers[h].data());
      }
    }
    datasets.clear();
    file.set_attribute("/", "model", model_dir);
    file.set_attribute("/", "model_type", model.config.model_type);
    file.set_attribute("/", "compute", compute);
    file.set_attribute("/", "hooks", hooks_list);
    file.set_attribute("/", "n_sequences", static_cast<int64_t>(seqs.n_sequences));
    file.set_attribute("/", "seq_len", static_cast<int64_t>(seqs.seq_len));
    file.set_attribute("/", "version", std::string(NEUROLENS_VERSION));
    file.close();
  }
  output.commit();
  std::fprintf(stderr, "neurolens: wrote %zu hook points x %d sequences x %d positions to %s\n",
               points.size(), seqs.n_sequences, n_pos, out_path.c_str());
  return 0;
}

}  // namespace neurolens::runner
