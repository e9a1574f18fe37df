import sys
import warnings

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Builds the C packing kernel when a compiler is available; without one the package
    still installs and ``pack_bayer`` runs its NumPy implementation (slower: docs/benchmarks.md)."""

    skipped = False

    def run(self):
        try:
            super().run()
        except Exception as e:  # no compiler, no Python headers, ...
            self._skip(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:
            self._skip(e)

    def _skip(self, error):
        # an in-place build fails a second time copying the missing module: one warning
        if not self.skipped:
            warnings.warn(f'genisp-mmdet: the C packing kernel was not built ({error}); '
                          'RAW packing falls back to NumPy', RuntimeWarning)
        self.skipped = True


# float32 arithmetic step by step, as the NumPy path does it: no fused multiply-adds
# (MSVC does not contract by default and has no such flag)
kernel_flags = [] if sys.platform == 'win32' else ['-O3', '-ffp-contract=off']

setup(
    name='genisp-mmdet',
    version='0.1.0',
    description='GenISP: a neural ISP trained through a frozen MMDetection detector, '
                'for object detection on dark camera RAW images from any sensor.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['genisp_mmdet', 'genisp_mmdet.*']),
    ext_modules=[Extension('genisp_mmdet.raw._pack_kernel',
                           sources=['genisp_mmdet/raw/_pack_kernel.c'],
                           extra_compile_args=kernel_flags)],
    cmdclass={'build_ext': OptionalBuildExt},
    python_requires='>=3.9',
    # The ranges the code supports; tools/setup_env.sh installs (and CI tests) exact pins at
    # their lower ends or inside them: torch 2.14.1, mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0.
    # torch >= 2.3 for torch.compiler.is_compiling; mmdet 3.3 accepts mmcv 2.0-2.1 only.
    install_requires=[
        'torch>=2.3',
        'mmengine>=0.10.7,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.3.0,<3.4',
        'rawpy>=0.18',
        'numpy',
        'pycocotools',
        'tqdm',
    ],
    # 'onnx': converting the official YOLOX ONNX export (tools/model_converters/) and its
    # tests; the package itself never imports onnx or onnxruntime
    extras_require={'tests': ['pytest', 'pidng', 'onnx', 'onnxruntime'],
                    'onnx': ['onnx', 'onnxruntime']},
    license='MIT',
)
