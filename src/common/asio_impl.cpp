// The single translation unit that compiles Boost.Asio's and Boost.Beast's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION), so the other files only
// instantiate what they use.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
