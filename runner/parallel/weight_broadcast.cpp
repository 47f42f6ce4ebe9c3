#include "runner/parallel/weight_broadcast.hpp"

#include <fcntl.h>
#include <mpi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "io/error.hpp"
#include "io/mpi_handle_cast.hpp"

namespace neurolens::runner {
namespace {

constexpr int64_t kChunkBytes = int64_t{1} << 30;  // MPI_Bcast counts are int
constexpr const char* kHint =
    "make room in /dev/shm (or raise its size limit), or load with model_load = mmap";

std::string errno_text(int err) {
  return std::strerror(err);
}

// One node communicator and one communicator of node leaders (node rank 0), for a whole load.
struct NodeComms {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm leaders = MPI_COMM_NULL;
  int node_rank = 0;
  int node_size = 1;
  std::string token;  // shared-memory names: unique per load

  explicit NodeComms(const Comm& world) {
    mpi_check(MPI_Comm_split_type(io::to_comm(world.raw()), MPI_COMM_TYPE_SHARED, world.rank(),
                                  MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    mpi_check(MPI_Comm_rank(node, &node_rank), "MPI_Comm_rank");
    mpi_check(MPI_Comm_size(node, &node_size), "MPI_Comm_size");
    mpi_check(MPI_Comm_split(io::to_comm(world.raw()), node_rank == 0 ? 0 : MPI_UNDEFINED,
                             world.rank(), &leaders),
              "MPI_Comm_split");
    if (world.root()) {
      std::random_device rd;
      token = std::to_string(::getpid()) + "-" + std::to_string(rd());
    }
    world.broadcast(token);
  }
  ~NodeComms() {
    if (leaders != MPI_COMM_NULL) MPI_Comm_free(&leaders);
    if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  }
  NodeComms(const NodeComms&) = delete;
  NodeComms& operator=(const NodeComms&) = delete;
  bool leader() const { return node_rank == 0; }
};

// A read-only mapping of a shared-memory segment; unmapped with the last reference.
struct SharedBytes {
  void* data = nullptr;
  size_t size = 0;
  ~SharedBytes() {
    if (data != nullptr) ::munmap(data, size);
  }
};

// The segment's name, unlinked when this goes out of scope (success or failure).
struct SegmentName {
  std::string name;
  bool created = false;
  ~SegmentName() {
    if (created) ::shm_unlink(name.c_str());
  }
};

// Runs `step` on every rank; if it fails anywhere, every rank throws neurolens::Error with the
// first failing rank's message (so the caller's own collective_check sees an ordinary Error).
void agree(const Comm& comm, const std::function<void()>& step) {
  try {
    collective_check(comm, step);
  } catch (const CollectiveFailure& failure) {
    throw Error("", failure.message);
  }
}

void read_whole_file(const std::filesystem::path& path, std::byte* out, int64_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(path.string(), "cannot open: " + errno_text(errno),
                "check that the file exists and is readable");
  }
  int64_t done = 0;
  while (done < size) {
    const ssize_t got =
        ::pread(fd, out + done, static_cast<size_t>(std::min(size - done, kChunkBytes)),
                static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = errno;
      ::close(fd);
      throw Error(path.string(),
                  got == 0 ? "shorter than when it was opened (changed while reading)"
                           : "read failed: " + errno_text(err),
                  "check the file system, or load with model_load = mmap");
    }
    done += got;
  }
  ::close(fd);
}

model::MappedFile broadcast_file(const Comm& world, const NodeComms& nodes, int index,
                                 const std::filesystem::path& path) {
  // 1. Rank 0 learns the size (every rank gets its error).
  int64_t size = 0;
  agree(world, [&] {
    if (!world.root()) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      throw Error(path.string(), "cannot open: " + errno_text(errno),
                  "check that the file exists and is readable");
    }
    if (!S_ISREG(st.st_mode)) {
      throw Error(path.string(), "not a regular file", "point at the checkpoint's files");
    }
    size = static_cast<int64_t>(st.st_size);
  });
  world.broadcast(std::span<int64_t>(&size, 1));
  if (size == 0) return model::MappedFile(path, {}, nullptr);

  // 2. Each node leader creates and reserves the segment (posix_fallocate: a full /dev/shm is an
  //    error now, not a SIGBUS later).
  SegmentName segment{"/neurolens-" + nodes.token + "-" + std::to_string(index)};
  auto bytes = std::make_shared<SharedBytes>();
  bytes->size = static_cast<size_t>(size);
  agree(world, [&] {
    if (!nodes.leader()) return;
    const int fd = ::shm_open(segment.name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw Error(path.string(),
                  "cannot create node-shared memory " + segment.name + ": " + errno_text(errno),
                  kHint);
    }
    segment.created = true;
    int rc = ::ftruncate(fd, static_cast<off_t>(size));
    if (rc == 0)
      rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    else
      rc = errno;
    if (rc != 0) {
      ::close(fd);
      throw Error(path.string(),
                  "cannot reserve " + std::to_string(size) +
                      " bytes of node-shared memory (/dev/shm): " + errno_text(rc),
                  kHint);
    }
    void* p = ::mmap(nullptr, bytes->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
      throw Error(path.string(), "cannot map node-shared memory: " + errno_text(err), kHint);
    }
    bytes->data = p;
  });

  // 3. Rank 0 reads the file once; 4. node leaders receive it.
  agree(world, [&] {
    if (world.root()) read_whole_file(path, static_cast<std::byte*>(bytes->data), size);
  });
  if (nodes.leader()) {
    for (int64_t at = 0; at < size; at += kChunkBytes) {
      const int count = static_cast<int>(std::min(kChunkBytes, size - at));
      mpi_check(
          MPI_Bcast(static_cast<std::byte*>(bytes->data) + at, count, MPI_BYTE, 0, nodes.leaders),
          "MPI_Bcast (weights to node leaders)");
    }
    ::mprotect(bytes->data, bytes->size, PROT_READ);  // best effort: the bytes are final now
  }

  // 5. The node's other ranks map the filled segment; then the leader unlinks its name.
  mpi_check(MPI_Barrier(nodes.node), "MPI_Barrier (node)");
  agree(world, [&] {
    if (nodes.leader()) return;
    const int fd = ::shm_open(segment.name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      throw Error(path.string(),
                  "cannot open node-shared memory " + segment.name + ": " + errno_text(errno),
                  kHint);
    }
    void* p = ::mmap(nullptr, bytes->size, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
      throw Error(path.string(), "cannot map node-shared memory: " + errno_text(err), kHint);
    }
    bytes->data = p;
  });
  const std::span<const std::byte> view(static_cast<const std::byte*>(bytes->data), bytes->size);
  return model::MappedFile(path, view, std::move(bytes));
}

}  // namespace

model::WeightFileReader broadcast_weight_reader(const Comm& comm) {
  auto nodes = std::make_shared<NodeComms>(comm);
  auto next_index = std::make_shared<int>(0);
  return [comm, nodes, next_index](const std::filesystem::path& path) {
    return broadcast_file(comm, *nodes, (*next_index)++, path);
  };
}

}  // namespace neurolens::runner
