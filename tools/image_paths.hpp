// Image paths given on a command line (tools/): a file stays as given, a folder stands for its .png, .jpg and .jpeg
// files (any case), in name order. Not library code.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

namespace slimcodec::tools {

inline bool has_image_suffix(const std::string& name) {
  for (const char* suffix : {".png", ".jpg", ".jpeg"}) {
    const size_t n = std::strlen(suffix);
    if (name.size() >= n && std::equal(name.end() - long(n), name.end(), suffix,
                                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      return true;
  }
  return false;
}

inline std::vector<std::string> expand_image_paths(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const std::string& p : in) {
    if (DIR* d = opendir(p.c_str())) {
      std::vector<std::string> files;
      while (dirent* e = readdir(d))
        if (has_image_suffix(e->d_name)) files.push_back(p + "/" + e->d_name);
      closedir(d);
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace slimcodec::tools
