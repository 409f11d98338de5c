/**
 * Facts about the built-in Fashion-MNIST dataset (Xiao, Rasul & Vollgraf 2017): class names,
 * file names, mirrors and checksums. Runtime-agnostic constants; loading is in
 * resolve-dataset.node.ts, downloading in download.node.ts.
 *
 * Checksums are SHA-256 of the *decompressed* IDX files, not of the .gz files: the same
 * content ships with different gzip headers (the Debian package `dataset-fashion-mnist`
 * strips the stored file name, so its .gz bytes differ from the canonical mirror's while
 * the deflate stream and the content are identical). Hashing the content accepts every
 * faithful copy and still rejects any changed byte. For reference, the canonical .gz files
 * have SHA-256 08dc20ab… (train images), b0197879… (train labels), 78dcbbfb… (test images),
 * 42bd1813… (test labels).
 */

export const FASHION_MNIST_NAME = 'fashion-mnist'

/** Label i of the IDX files is FASHION_MNIST_CLASSES[i] (from the dataset's README). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]

/** Mirrors tried in order; each serves the four `.gz` files below under the same names. */
export const FASHION_MNIST_MIRRORS: readonly string[] = [
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
  'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
]

export interface DatasetFileChecksum {
  /** File name on the mirror and in the cache. */
  readonly file: string
  /** Exact size of the decompressed content in bytes (also bounds decompression). */
  readonly contentBytes: number
  /** SHA-256 (hex) of the decompressed content. */
  readonly contentSha256: string
}

/** Computed from the Debian package's files; identical content to the canonical mirror. */
export const FASHION_MNIST_FILES: readonly DatasetFileChecksum[] = [
  {
    file: 'train-images-idx3-ubyte.gz',
    contentBytes: 47_040_016,
    contentSha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  },
  {
    file: 'train-labels-idx1-ubyte.gz',
    contentBytes: 60_008,
    contentSha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  },
  {
    file: 't10k-images-idx3-ubyte.gz',
    contentBytes: 7_840_016,
    contentSha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  },
  {
    file: 't10k-labels-idx1-ubyte.gz',
    contentBytes: 10_008,
    contentSha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
  },
]
