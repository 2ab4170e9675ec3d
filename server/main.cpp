// streamlet-server: placeholder until the upload/platform issues land.
#include <cstdio>

int main() {
  std::puts("streamlet-server: not built yet");
  return 0;
}
