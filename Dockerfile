# cleancrawl images.
#
#   docker build -t cleancrawl .                 # CPU: the CLI, and a Dataflow custom SDK container
#   docker build -t cleancrawl-gpu --target gpu . # GPU: pretraining under torchrun / Slurm
#
# The default image starts from Apache Beam's own Python SDK image so that Dataflow can use it
# as `--sdk_container_image` (its entrypoint, /opt/apache/beam/boot, is kept). To run the CLI
# from it: docker run --rm --entrypoint cleancrawl cleancrawl build --help
# Keep BEAM_VERSION equal to the apache-beam the image installs (tests/test_dockerfile.py checks).

ARG BEAM_VERSION=2.77.0
ARG PYTHON_VERSION=3.11

FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION} AS cpu
ARG BEAM_VERSION
WORKDIR /opt/cleancrawl
# torch first, CPU build: a bare `torch` requirement would pull a multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY cleancrawl ./cleancrawl
RUN pip install --no-cache-dir "apache-beam[gcp]==${BEAM_VERSION}" . \
 && cleancrawl --help > /dev/null
ENTRYPOINT ["/opt/apache/beam/boot"]

# devel, not runtime: torch.compile (Triton) needs a C compiler. Run with --ipc=host for NCCL.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel AS gpu
ENV PYTHONUNBUFFERED=1
WORKDIR /opt/cleancrawl
COPY pyproject.toml README.md ./
COPY cleancrawl ./cleancrawl
# The base image's CUDA torch satisfies the torch requirement; nothing else pulls a new one.
RUN pip install --no-cache-dir "apache-beam[gcp]==2.77.0" . && cleancrawl --help > /dev/null
ENTRYPOINT ["cleancrawl"]
CMD ["--help"]
