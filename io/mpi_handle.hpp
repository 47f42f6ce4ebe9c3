// An MPI communicator or request carried through headers that must not include <mpi.h>.
// Owns: MpiHandle, the bits of an MPI_Comm / MPI_Request (a pointer in Open MPI, an int in
// MPICH), so Comm (runner/parallel/mpi.hpp) and H5File::create (io/hdf5.hpp) show no MPI type to
// the studies and the engine. Only .cpp files that include <mpi.h> convert, through
// io/mpi_handle_cast.hpp.
// Example:
//   io::MpiHandle h = io::to_handle(MPI_COMM_WORLD);   // in a .cpp with <mpi.h>
//   MPI_Comm c = io::to_comm(h);
#pragma once

#include <cstdint>

namespace neurolens::io {

struct MpiHandle {
  std::uintptr_t bits = 0;
};

}  // namespace neurolens::io
