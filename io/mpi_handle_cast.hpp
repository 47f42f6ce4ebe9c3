// Converts io::MpiHandle (io/mpi_handle.hpp) to and from MPI_Comm / MPI_Request. Includes <mpi.h>:
// only for .cpp files in io/ and runner/parallel/ (and tests that call MPI themselves).
// Example:
//   MPI_Comm c = io::to_comm(comm.raw());
#pragma once

#include <mpi.h>

#include <cstring>

#include "io/mpi_handle.hpp"

namespace neurolens::io {

template <typename Mpi>
MpiHandle to_handle(Mpi value) {
  static_assert(sizeof(Mpi) <= sizeof(MpiHandle::bits), "an MPI handle must fit a uintptr_t");
  MpiHandle h;
  std::memcpy(&h.bits, &value, sizeof(Mpi));
  return h;
}

template <typename Mpi>
Mpi from_handle(MpiHandle h) {
  static_assert(sizeof(Mpi) <= sizeof(MpiHandle::bits), "an MPI handle must fit a uintptr_t");
  Mpi value;
  std::memcpy(&value, &h.bits, sizeof(Mpi));
  return value;
}

inline MPI_Comm to_comm(MpiHandle h) {
  return from_handle<MPI_Comm>(h);
}

}  // namespace neurolens::io
