// Collective parallel HDF5: every rank writes its own neuron slice of one dataset.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>

#include "io/hdf5.hpp"
#include "io/mpi_handle_cast.hpp"

using namespace neurolens::io;

TEST(Hdf5Mpi, RanksWriteDisjointSlicesCollectively) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("neurolens_mpi_h5_" + std::to_string(size) + ".h5");
  const hsize_t layers = 3, width = 10;
  // Neuron slices of uneven size; the last rank may get none when size > width.
  const hsize_t begin = width * static_cast<hsize_t>(rank) / static_cast<hsize_t>(size);
  const hsize_t end = width * static_cast<hsize_t>(rank + 1) / static_cast<hsize_t>(size);
  {
    H5File f = H5File::create(path, to_handle(MPI_COMM_WORLD));
    EXPECT_TRUE(f.collective());
    {
      H5Dataset d = f.create_dataset("/site/t", H5Type::F64, {layers, width});
      std::vector<double> mine;
      for (hsize_t l = 0; l < layers; ++l)
        for (hsize_t n = begin; n < end; ++n) mine.push_back(100.0 * l + n + 0.25 * rank);
      const hsize_t offset[] = {0, begin};
      const hsize_t count[] = {layers, end - begin};
      d.write_block(offset, count, mine.data());
    }
    f.set_attribute("/", "n_ranks", static_cast<int64_t>(size));
    f.close();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    H5File r = H5File::open_read_only(path);
    EXPECT_EQ(r.number_attribute("/", "n_ranks"), size);
    std::vector<double> all = r.open_dataset("/site/t").read_f64();
    for (hsize_t l = 0; l < layers; ++l) {
      for (hsize_t n = 0; n < width; ++n) {
        // The rank whose slice holds neuron n.
        int owner = 0;
        for (int q = 0; q < size; ++q) {
          const hsize_t b = width * static_cast<hsize_t>(q) / static_cast<hsize_t>(size);
          const hsize_t e = width * static_cast<hsize_t>(q + 1) / static_cast<hsize_t>(size);
          if (n >= b && n < e) owner = q;
        }
        EXPECT_DOUBLE_EQ(all[l * width + n], 100.0 * l + n + 0.25 * owner)
            << "layer " << l << " neuron " << n;
      }
    }
    std::filesystem::remove(path);
  }
}

TEST(Hdf5Mpi, RanksGrowAChunkedDatasetRoundByRound) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("neurolens_mpi_h5_chunked_" + std::to_string(size) + ".h5");
  // Round k: rank q writes k + q rows (rank 0 none in round 0), after the rows of ranks < q.
  hsize_t total = 0;
  {
    H5File f = H5File::create(path, to_handle(MPI_COMM_WORLD));
    H5Dataset d = f.create_chunked_dataset("/rows", H5Type::I64, {0, 2}, {3, 2});
    for (hsize_t k = 0; k < 3; ++k) {
      hsize_t before = total;
      for (hsize_t q = 0; q < static_cast<hsize_t>(rank); ++q) before += k + q;
      for (hsize_t q = 0; q < static_cast<hsize_t>(size); ++q) total += k + q;
      d.set_rows(total);
      const hsize_t mine = k + static_cast<hsize_t>(rank);
      std::vector<int64_t> values;
      for (hsize_t i = 0; i < mine; ++i) {
        values.push_back(static_cast<int64_t>(before + i));
        values.push_back(rank);
      }
      const hsize_t offset[] = {mine > 0 ? before : 0, 0}, count[] = {mine, 2};
      d.write_block(offset, count, values.data());
    }
    d = H5Dataset();
    f.close();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    H5File r = H5File::open_read_only(path);
    const H5Dataset d = r.open_dataset("/rows");
    ASSERT_EQ(d.dims(), (std::vector<hsize_t>{total, 2}));
    const std::vector<int64_t> all = d.read_i64();
    for (hsize_t i = 0; i < total; ++i) EXPECT_EQ(all[2 * i], static_cast<int64_t>(i)) << i;
    std::filesystem::remove(path);
  }
}
