# The gateway and aggregator image (Knative Service or Deployment tributary-gateway, Deployment
# tributary-aggregator): `tributary serve` with the userspace router, as a non-root user.
# Without --listen it serves on 0.0.0.0:$PORT (Knative sets PORT; 8080 here by default).
#   docker build -f deploy/docker/gateway.Dockerfile -t tributary/gateway:0.1.0 .
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
# Portable code (no -march=native), no CUDA, no tests or benchmarks in the image.
RUN scripts/install-deps \
    && scripts/build -DTRIBUTARY_NATIVE=OFF -DTRIBUTARY_CUDA=OFF \
        -DTRIBUTARY_BUILD_TESTS=OFF -DTRIBUTARY_BUILD_BENCH=OFF \
    && install -D -m 0755 build/cli/tributary /out/usr/local/bin/tributary

FROM debian:bookworm-slim
# Only the shared libraries the binary links (ldd build/cli/tributary).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 libssl3 \
        libbrotli1 zlib1g libbpf1 libelf1 libspdlog1.10 libfmt9 libcpp-httplib0.11 libgomp1 \
        libpython3.11 libexpat1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 tributary \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin tributary
COPY --from=build /out/ /
ENV PORT=8080
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["serve", "--router=userspace"]
