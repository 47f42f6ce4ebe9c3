#include "io/gzip.hpp"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "io/error.hpp"

namespace neurolens::io {

void write_gzip_file(const std::filesystem::path& path, std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error(path.string(), "zlib could not be initialised", "check the available memory");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&zs, Z_FINISH);
  const size_t written = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (status != Z_STREAM_END) {
    throw Error(path.string(),
                "gzip compression failed (zlib status " + std::to_string(status) + ")",
                "write smaller files");
  }
  out.resize(written);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  f.close();
  if (!f) {
    throw Error(path.string(), "could not write the file",
                "check free disk space and permissions of the output directory");
  }
}

std::string read_gzip_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path.string(), "cannot open the file", "check that it exists");
  const std::string in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) {
    throw Error(path.string(), "zlib could not be initialised", "check the available memory");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::vector<char> buf(1 << 16);
  int status = Z_OK;
  while (zs.avail_in > 0 || status == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    status = inflate(&zs, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&zs);
      throw Error(path.string(), "corrupt gzip data", "gzip -t " + path.string());
    }
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (status == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // another member follows
      status = Z_OK;
    }
  }
  inflateEnd(&zs);
  if (status != Z_STREAM_END) {
    throw Error(path.string(), "truncated gzip data", "gzip -t " + path.string());
  }
  return out;
}

}  // namespace neurolens::io
