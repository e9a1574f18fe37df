from setuptools import find_packages, setup

setup(
    name='genisp-mmdet',
    version='0.1.0',
    description='GenISP: a neural ISP trained through a frozen MMDetection detector, '
                'for object detection on dark camera RAW images from any sensor.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['genisp_mmdet', 'genisp_mmdet.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
        'rawpy>=0.18',
        'numpy',
        'pycocotools',
        'tqdm',
    ],
    extras_require={'tests': ['pytest', 'pidng']},
    license='MIT',
)
