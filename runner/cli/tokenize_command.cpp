// neurolens tokenize — prints the GPT-2 BPE token ids of a whole text file, space-separated, on
// one line.
//   neurolens tokenize --model DIR --text FILE              (DIR holds vocab.json, merges.txt)
//   neurolens tokenize --vocab vocab.json --merges merges.txt --text FILE
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include <boost/program_options.hpp>

#include "io/error.hpp"
#include "model/tokenizer/tokenizer.hpp"
#include "runner/cli/commands.hpp"
#include "runner/cli/job_file.hpp"

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

}  // namespace

int run_tokenize(const Args& args) {
  po::options_description options(
      "neurolens tokenize: print the GPT-2 BPE token ids of a UTF-8 text file on one line\n"
      "usage: neurolens tokenize --model DIR --text FILE\n"
      "       neurolens tokenize --vocab vocab.json --merges merges.txt --text FILE\n"
      "options");
  std::string model_dir;
  std::string vocab;
  std::string merges;
  std::string text_path;
  options.add_options()("help,h", "show this help")(
      "model", po::value(&model_dir)->value_name("DIR"),
      "checkpoint directory holding vocab.json and merges.txt")(
      "vocab", po::value(&vocab)->value_name("FILE"), "vocab.json (instead of --model)")(
      "merges", po::value(&merges)->value_name("FILE"), "merges.txt (instead of --model)")(
      "text", po::value(&text_path)->value_name("FILE"),
      "UTF-8 text file to tokenize ('-': stdin)");
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
        << "Prints the ids of the whole file, space-separated, on one line. Text is GPT-2\n"
           "encoded exactly like OpenAI's encoder; <|endoftext|> in the text is ordinary text.\n";
    return 0;
  }
  const bool by_model = vm.count("model") > 0;
  const bool by_files = vm.count("vocab") > 0 || vm.count("merges") > 0;
  if (by_model == by_files || (by_files && (vocab.empty() || merges.empty()))) {
    throw Error("tokenize", "give either --model DIR or both --vocab FILE and --merges FILE",
                "run 'neurolens tokenize --help'");
  }
  if (!vm.count("text")) {
    throw Error("tokenize", "--text FILE is required", "run 'neurolens tokenize --help'");
  }
  if (by_model) {
    vocab = (std::filesystem::path(model_dir) / "vocab.json").string();
    merges = (std::filesystem::path(model_dir) / "merges.txt").string();
  }
  const model::Tokenizer tokenizer = model::Tokenizer::load(vocab, merges);
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
