# The node runtime image (DaemonSet tributary-node): `tributary serve` with the BPF router.
# Runs as root: loading BPF programs and mounting bpffs need it (see the DaemonSet's
# securityContext for the capabilities it keeps).
# runs-as: root
#   docker build -f deploy/docker/node.Dockerfile -t tributary/node:0.1.0 .
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
# Portable code (no -march=native), no CUDA, no tests or benchmarks in the image.
RUN scripts/install-deps \
    && scripts/build -DTRIBUTARY_NATIVE=OFF -DTRIBUTARY_CUDA=OFF \
        -DTRIBUTARY_BUILD_TESTS=OFF -DTRIBUTARY_BUILD_BENCH=OFF \
    && install -D -m 0755 build/cli/tributary /out/usr/local/bin/tributary

FROM debian:bookworm-slim
# Only the shared libraries the binary links (ldd build/cli/tributary); mount and awk, which
# the bpffs init container uses, are part of the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 libssl3 \
        libbrotli1 zlib1g libbpf1 libelf1 libspdlog1.10 libfmt9 libcpp-httplib0.11 libgomp1 \
        libpython3.11 libexpat1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["serve", "--router=bpf"]
