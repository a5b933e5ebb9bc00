# expect: dockerfile-build
# Builds without the repository's scripts.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN cmake -S . -B build && cmake --build build
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgrpc++1.51 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/cli/tributary /usr/local/bin/tributary
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
