# expect: dockerfile-apt
# Recommends pulled in, package lists left in the image.
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps && scripts/build
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y libgrpc++1.51 \
    && true
COPY --from=build /src/build/cli/tributary /usr/local/bin/tributary
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary"]
